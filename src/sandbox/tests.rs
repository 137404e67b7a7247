//! Sandbox behaviour: results, logs, input and secrets, escapes, and every limit.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;

use super::*;

fn context(input: Value) -> ScriptContext {
    ScriptContext {
        input,
        ..Default::default()
    }
}

async fn eval(source: &str) -> ScriptRun {
    run(source, context(json!({})), &SandboxLimits::default()).await
}

fn with_limits(change: impl FnOnce(&mut SandboxLimits)) -> SandboxLimits {
    let mut limits = SandboxLimits::default();
    change(&mut limits);
    limits
}

#[tokio::test]
async fn the_return_value_becomes_json_and_input_is_readable() {
    let run = super::run(
        r#"
        let total = 0;
        for item in input.items { total += item.price * item.qty; }
        #{ customer: input.customer.name, total: total, count: input.items.len(), none: () }
        "#,
        context(json!({
            "customer": {"name": "Ada"},
            "items": [{"price": 3, "qty": 2}, {"price": 10, "qty": 1}]
        })),
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(
        run.result.expect("result"),
        json!({"customer": "Ada", "total": 16, "count": 2, "none": null})
    );
    assert!(run.operations > 0);
}

#[tokio::test]
async fn the_input_is_constant_and_copies_of_it_are_free_to_change() {
    let run = super::run(
        "input.x += 1; input",
        context(json!({"x": 1})),
        &SandboxLimits::default(),
    )
    .await;
    match run.result {
        Err(ScriptError::Runtime { message, .. }) => {
            assert!(message.contains("constant"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let run = super::run(
        "let copy = input; copy.x += 1; copy.added = true; copy",
        context(json!({"x": 1})),
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(run.result.expect("result"), json!({"x": 2, "added": true}));
}

#[tokio::test]
async fn log_print_and_debug_lines_are_collected_in_order() {
    let run =
        eval(r#"log("first"); print("second"); debug("third"); log(42); log([1, 2]); 7"#).await;
    assert_eq!(run.result.expect("result"), json!(7));
    assert_eq!(
        run.logs,
        ["first", "second", "debug: \"third\"", "42", "[1, 2]"]
    );
}

#[tokio::test]
async fn log_lines_are_capped_in_number_and_length() {
    let limits = with_limits(|l| {
        l.max_log_lines = 3;
        l.max_log_line_len = 5;
    });
    let run = super::run(
        r#"for i in 0..10 { log("line-" + i); } log("ü".pad(10, "ü"));"#,
        context(json!({})),
        &limits,
    )
    .await;
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(run.logs, ["line-…", "line-…", "line-…"]);
    assert_eq!(run.dropped_log_lines, 8);
}

#[tokio::test]
async fn secrets_are_usable_but_redacted_from_everything_that_leaves() {
    let secret = "tok_9f8e7d6c5b4a";
    let ctx = ScriptContext {
        secrets: HashMap::from([("API_TOKEN".to_owned(), SecretValue::new(secret.into()))]),
        ..Default::default()
    };
    let run = super::run(
        r#"log("using " + secrets.API_TOKEN); #{ header: "Bearer " + secrets.API_TOKEN, len: secrets.API_TOKEN.len() }"#,
        ctx.clone(),
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(run.logs, ["using [REDACTED]"]);
    assert_eq!(
        run.result.expect("result"),
        json!({"header": "Bearer [REDACTED]", "len": secret.len()})
    );
    let failed = super::run(
        r#"throw "bad token " + secrets.API_TOKEN"#,
        ctx,
        &SandboxLimits::default(),
    )
    .await;
    let message = failed.result.expect_err("thrown").to_string();
    assert!(message.contains("bad token [REDACTED]"), "{message}");
    assert!(!message.contains(secret));
}

#[tokio::test]
async fn modules_eval_and_host_access_do_not_exist() {
    for source in [
        r#"import "std" as std; 1"#,
        r#"eval("40 + 2")"#,
        r#"export const x = 1;"#,
    ] {
        let run = eval(source).await;
        assert!(
            matches!(run.result, Err(ScriptError::Compile { .. })),
            "{source}: {:?}",
            run.result
        );
    }
    for call in [
        r#"open("/etc/passwd")"#,
        r#"read_file("/etc/passwd")"#,
        r#"read_to_string("/etc/passwd")"#,
        r#"write_file("/tmp/x", "y")"#,
        r#"system("id")"#,
        r#"exec("id")"#,
        r#"command("id")"#,
        r#"env("HOME")"#,
        r#"connect("127.0.0.1:5432")"#,
        r#"fetch("https://example.com")"#,
    ] {
        let run = eval(call).await;
        match &run.result {
            Err(ScriptError::Runtime { message, .. }) => {
                assert!(message.contains("Function not found"), "{call}: {message}")
            }
            other => panic!("{call}: expected no such function, got {other:?}"),
        }
    }
    // The standard library's `sleep` would block past the deadline: it is replaced.
    for call in ["sleep(100)", "sleep(0.5)"] {
        match eval(call).await.result {
            Err(ScriptError::Runtime { message, .. }) => {
                assert!(message.contains("not available"), "{call}: {message}")
            }
            other => panic!("{call}: {other:?}"),
        }
    }
    // Undeclared variables are refused before anything runs.
    let run = eval("std_fs").await;
    assert!(
        matches!(run.result, Err(ScriptError::Compile { .. })),
        "{:?}",
        run.result
    );
    // Reserved for future use by the language, and not callable either.
    let run = eval(r#"spawn("id")"#).await;
    assert!(
        matches!(run.result, Err(ScriptError::Compile { .. })),
        "{:?}",
        run.result
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_runaway_loop_times_out_without_blocking_the_runtime() {
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let limits = with_limits(|l| {
        l.timeout = Duration::from_millis(300);
        l.max_operations = u64::MAX;
    });
    let started = Instant::now();
    let run = super::run(
        r#"log("spinning"); let x = 0; loop { x += 1; }"#,
        context(json!({})),
        &limits,
    )
    .await;
    let elapsed = started.elapsed();
    ticker.abort();
    assert_eq!(
        run.result,
        Err(ScriptError::TimedOut(Duration::from_millis(300)))
    );
    assert_eq!(run.result.as_ref().unwrap_err().code(), "TIMED_OUT");
    assert_eq!(
        run.logs,
        ["spinning"],
        "lines written before the stop are kept"
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(800),
        "stopped near the deadline: {elapsed:?}"
    );
    // On a single-threaded runtime the ticker only advances if the script is elsewhere.
    assert!(
        ticks.load(Ordering::Relaxed) >= 5,
        "ticks: {}",
        ticks.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn the_operation_budget_stops_long_work() {
    let limits = with_limits(|l| l.max_operations = 10_000);
    let run = super::run(
        "let x = 0; for i in 0..1000000 { x += i; } x",
        context(json!({})),
        &limits,
    )
    .await;
    assert_eq!(run.result, Err(ScriptError::OperationLimit(10_000)));
    let ok = super::run(
        "let x = 0; for i in 0..100 { x += i; } x",
        context(json!({})),
        &limits,
    )
    .await;
    assert_eq!(ok.result.expect("small loop"), json!(4950));
}

#[tokio::test]
async fn huge_strings_arrays_and_maps_are_refused() {
    let limits = with_limits(|l| {
        l.max_string_len = 10_000;
        l.max_array_len = 1_000;
        l.max_map_len = 1_000;
    });
    for source in [
        r#"let s = "x"; loop { s += s; }"#,
        r#"let s = ""; s.pad(20000, "x"); s"#,
        r#"let a = []; loop { a.push(1); }"#,
        r#"let a = []; a.pad(5000, 0); a"#,
        r#"let m = #{}; for i in 0..5000 { m.set("k" + i, i); } m"#,
        r#"let m = #{}; for i in 0..5000 { m["k" + i] = i; } m.len()"#,
        r#"let m = #{}; for i in 0..5000 { let n = #{}; n["k" + i] = i; m += n; } m"#,
        r#"let outer = []; for i in 0..100 { let inner = []; inner.pad(50, i); outer.push(inner); } outer"#,
    ] {
        let run = super::run(source, context(json!({})), &limits).await;
        assert!(
            matches!(run.result, Err(ScriptError::TooLarge(_))),
            "{source}: {:?}",
            run.result
        );
    }
}

#[tokio::test]
async fn growth_the_engine_does_not_size_check_is_bounded_by_the_operation_budget() {
    // Rhai checks a map's size when it is next used, not on each indexed insert; an endless
    // insert loop is stopped by the operation budget instead.
    let limits = with_limits(|l| {
        l.max_map_len = 1_000;
        l.max_operations = 50_000;
    });
    let run = super::run(
        r#"let m = #{}; let i = 0; loop { m["k" + i] = i; i += 1; }"#,
        context(json!({})),
        &limits,
    )
    .await;
    assert_eq!(run.result, Err(ScriptError::OperationLimit(50_000)));
}

#[tokio::test]
async fn deep_recursion_is_refused_and_allowed_depth_works() {
    let run = eval("fn down(n) { down(n + 1) } down(0)").await;
    assert_eq!(run.result, Err(ScriptError::CallDepth(32)));
    let run = eval("fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } } depth(30)").await;
    assert_eq!(run.result.expect("within the limit"), json!(30));
}

#[tokio::test]
async fn the_deepest_allowed_nesting_at_every_call_level_fits_the_stack() {
    // Each of 31 nested calls evaluates the most deeply nested expression a function body may hold (11 levels of parentheses are refused at compile time): the worst the
    // default limits allow. A stack overflow here would abort the whole process.
    let expr = format!("{}n{}", "(1 + ".repeat(10), ")".repeat(10));
    let source = format!(
        "fn deep(n) {{ if n == 0 {{ 0 }} else {{ let x = {expr}; deep(n - 1) + x - x + 1 }} }} deep(30)"
    );
    let run = eval(&source).await;
    assert_eq!(run.result.expect("within the limits"), json!(30));
}

#[tokio::test]
async fn deeply_nested_expressions_and_long_sources_are_refused() {
    let nested = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(matches!(
        eval(&nested).await.result,
        Err(ScriptError::Compile { .. })
    ));
    let limits = with_limits(|l| l.max_source_len = 100);
    let run = super::run(&"1;".repeat(100), context(json!({})), &limits).await;
    match run.result {
        Err(ScriptError::Compile { message, .. }) => assert!(message.contains("limit")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn errors_carry_their_line() {
    let run = eval("let a = 1;\nlet b = [];\nb[5]").await;
    match run.result {
        Err(ScriptError::Runtime { line, message }) => {
            assert_eq!(line, Some(3));
            assert!(
                message.contains("out of bounds") || message.contains("bounds"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    match eval("let = ;").await.result {
        Err(ScriptError::Compile { line, .. }) => assert_eq!(line, Some(1)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn results_that_are_not_data_are_refused() {
    for source in ["|x| x + 1", "timestamp()", "[1, Fn(\"f\")]", "0.0 / 0.0"] {
        let run = eval(source).await;
        assert!(
            matches!(run.result, Err(ScriptError::Result(_))),
            "{source}: {:?}",
            run.result
        );
    }
    let run = eval(r#"exit(#{ early: true }); 1"#).await;
    assert_eq!(run.result.expect("exit value"), json!({"early": true}));
    let run = eval("let b = blob(3, 7); [b, 'c', 1.5]").await;
    assert_eq!(run.result.expect("blob"), json!([[7, 7, 7], "c", 1.5]));
    let limits = with_limits(|l| l.max_result_len = 100);
    let run = super::run(
        r#"let s = "x"; s.pad(200, "x"); s"#,
        context(json!({})),
        &limits,
    )
    .await;
    assert!(
        matches!(run.result, Err(ScriptError::Result(_))),
        "{:?}",
        run.result
    );
}

/// A handler that records requests and answers from a closure, without a network.
fn recording_handler(
    answer: impl Fn(&HttpRequest) -> Result<HttpResponse, String> + Send + Sync + 'static,
) -> (HttpHandler, Arc<Mutex<Vec<HttpRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let answer = Arc::new(answer);
    let handler: HttpHandler = Arc::new(move |request: HttpRequest| {
        recorder.lock().expect("lock").push(request.clone());
        let answer = answer.clone();
        Box::pin(async move { answer(&request) })
    });
    (handler, seen)
}

#[tokio::test]
async fn http_calls_go_through_the_given_handler() {
    let (handler, seen) = recording_handler(|request| {
        Ok(HttpResponse {
            status: 201,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({"echo": request.body, "method": request.method}).to_string(),
        })
    });
    let ctx = ScriptContext {
        http: Some(handler),
        ..Default::default()
    };
    let run = super::run(
        r#"
        let a = http(#{ method: "post", url: "https://api.example/items", headers: #{ "x-trace": "1" }, json: #{ name: "n" } });
        let b = http_get("https://api.example/health");
        #{ status: a.status, ok: a.ok, echoed: a.json.echo, type: a.headers["content-type"], second: b.json.method }
        "#,
        ctx,
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(
        run.result.expect("result"),
        json!({"status": 201, "ok": true, "echoed": "{\"name\":\"n\"}", "type": "application/json", "second": "GET"})
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].url, "https://api.example/items");
    assert!(seen[0].headers.contains(&("x-trace".into(), "1".into())));
    assert!(
        seen[0]
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    assert_eq!(seen[1].url, "https://api.example/health");
}

#[tokio::test]
async fn http_failures_are_script_errors_that_can_be_caught() {
    let (handler, _) = recording_handler(|_| Err("blocked by the outbound policy".into()));
    let ctx = ScriptContext {
        http: Some(handler),
        ..Default::default()
    };
    let run = super::run(
        r#"let outcome = "unhandled";
           try { http_get("http://169.254.169.254/"); } catch (err) { log(err); outcome = "handled"; }
           outcome"#,
        ctx,
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(run.result.expect("caught"), json!("handled"));
    assert_eq!(run.logs, ["http(): blocked by the outbound policy"]);

    let run = eval(r#"http_get("https://example.com/")"#).await;
    match run.result {
        Err(ScriptError::Runtime { message, .. }) => assert!(message.contains("not available")),
        other => panic!("{other:?}"),
    }
    let run = eval(r#"http(#{ url: "https://x.example", method: "TRACE" })"#).await;
    assert!(
        matches!(run.result, Err(ScriptError::Runtime { .. })),
        "{:?}",
        run.result
    );
}

#[tokio::test]
async fn http_calls_are_budgeted_and_bounded_by_the_deadline() {
    let (handler, seen) = recording_handler(|_| {
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: "ok".into(),
        })
    });
    let ctx = ScriptContext {
        http: Some(handler),
        ..Default::default()
    };
    let limits = with_limits(|l| l.max_http_calls = 3);
    let run = super::run(
        r#"for i in 0..10 { http_get("https://x.example/" + i); }"#,
        ctx,
        &limits,
    )
    .await;
    match run.result {
        Err(ScriptError::Runtime { message, .. }) => assert!(message.contains("at most 3")),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.lock().expect("lock").len(), 3);

    let slow: HttpHandler = Arc::new(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Err("never".into())
        })
    });
    let ctx = ScriptContext {
        http: Some(slow),
        ..Default::default()
    };
    let limits = with_limits(|l| l.timeout = Duration::from_millis(200));
    let started = Instant::now();
    let run = super::run(
        r#"try { http_get("https://slow.example/"); } catch (err) { log("caught"); } loop {}"#,
        ctx,
        &limits,
    )
    .await;
    assert_eq!(
        run.result,
        Err(ScriptError::TimedOut(Duration::from_millis(200)))
    );
    assert!(
        run.logs.is_empty(),
        "the deadline cannot be caught: {:?}",
        run.logs
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dropping_the_run_stops_the_script() {
    let (handler, seen) = recording_handler(|_| {
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: String::new(),
        })
    });
    let ctx = ScriptContext {
        http: Some(handler),
        ..Default::default()
    };
    let limits = with_limits(|l| {
        l.timeout = Duration::from_secs(30);
        l.max_operations = u64::MAX;
        l.max_http_calls = u32::MAX;
    });
    // The script calls out on every iteration; once the run is dropped the calls must stop.
    let source =
        r#"let i = 0; loop { i += 1; if i % 1000 == 0 { http_get("https://x.example/"); } }"#;
    let _ = tokio::time::timeout(Duration::from_millis(200), run(source, ctx, &limits)).await;
    let mut previous = seen.lock().expect("lock").len();
    assert!(previous > 0, "the script was running");
    // Wait for the count to stay still across two consecutive observations.
    let mut still = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = seen.lock().expect("lock").len();
        still = if now == previous { still + 1 } else { 0 };
        previous = now;
        if still >= 5 {
            break;
        }
    }
    assert!(still >= 5, "the script kept calling after being dropped");
}
