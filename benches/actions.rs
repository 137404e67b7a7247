//! Costs of the issue-6 building blocks that sit on an execution's path: sealing and
//! opening secrets, resolving and redacting, starting and running a sandboxed script, how
//! close to its deadline a runaway script stops, rendering an email, and verifying a webhook
//! signature. Run with `cargo bench --bench actions`; results go in docs/BENCHMARKS.md.

use std::{
    collections::HashMap,
    hint::black_box,
    time::{Duration, Instant},
};

use nocron::{
    email::EmailSpec,
    sandbox::{self, SandboxLimits, ScriptContext},
    secrets::{MasterKey, Redactor, SecretValue, Vault, resolve},
    triggers::signature::{SignatureConfig, SignatureVerifier, StandardWebhooksKey},
};
use serde_json::json;

/// Runs `op` repeatedly for about `budget` and reports the mean time per call.
fn measure(name: &str, budget: Duration, mut op: impl FnMut()) {
    for _ in 0..10 {
        op();
    }
    let started = Instant::now();
    let mut iterations = 0u64;
    while started.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        iterations += 16;
    }
    let per_call = started.elapsed() / u32::try_from(iterations).unwrap_or(u32::MAX);
    println!(
        "{name:<58} {:>12.2?} per call  ({iterations} calls)",
        per_call
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    // Test runners list every target's tests (`--list`); this binary has none to offer.
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    nocron::install_crypto_provider();
    let budget = Duration::from_millis(700);
    println!("== secrets");
    let vault = Vault::new(MasterKey::generate(), vec![]);
    let value = b"sk_live_51H8xYzAbCdEfGhIjKlMnOpQr";
    let aad = [7u8; 49];
    measure("vault seal (32-byte value)", budget, || {
        black_box(vault.seal(black_box(value), &aad).ok());
    });
    let sealed = vault.seal(value, &aad).expect("seal");
    measure("vault open (32-byte value)", budget, || {
        black_box(vault.open(black_box(&sealed.bytes), &aad).ok());
    });
    let secrets: HashMap<String, SecretValue> = (0..10)
        .map(|i| {
            (
                format!("S{i}"),
                SecretValue::new(format!("secret-value-{i:02}-abcdefghij")),
            )
        })
        .collect();
    let config = json!({
        "url": "https://api.example/v1/items?key={{ secrets.S0 }}",
        "headers": {"Authorization": "Bearer {{ secrets.S1 }}", "X-Other": "{{ secrets.S2 }}"},
        "body": {"user": "{{ secrets.S3 }}", "pass": "{{ secrets.S4 }}", "note": "plain text here"}
    });
    measure("resolve a config with 5 references", budget, || {
        black_box(resolve(black_box(&config), &secrets).ok());
    });
    let redactor = Redactor::for_secrets(&secrets);
    let mut log = String::new();
    while log.len() < 64 * 1024 {
        log.push_str("GET /v1/items 200 in 12ms user=ann request=abc123 ");
    }
    log.push_str("secret-value-03-abcdefghij");
    measure(
        "redact 64 KiB of log text, 10 secrets (40 forms)",
        budget,
        || {
            black_box(redactor.redact(black_box(&log)));
        },
    );

    println!("== sandbox");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let limits = SandboxLimits::default();
    let mut latencies = Vec::new();
    for _ in 0..2_000 {
        let started = Instant::now();
        let run = runtime.block_on(sandbox::run(
            "input.a + 1",
            ScriptContext {
                input: json!({"a": 41}),
                ..Default::default()
            },
            &limits,
        ));
        latencies.push(started.elapsed());
        assert!(run.result.is_ok());
    }
    latencies.sort();
    println!(
        "{:<58} p50 {:>9.2?}  p99 {:>9.2?}",
        "run a one-line script end to end (2000 runs)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    let heavy = "let total = 0; for i in 0..200000 { total += i % 7; } total";
    let started = Instant::now();
    let run = runtime.block_on(sandbox::run(heavy, ScriptContext::default(), &limits));
    let elapsed = started.elapsed();
    println!(
        "{:<58} {:>9.2?}  ({:.1} M operations/s)",
        "a 200k-iteration loop",
        elapsed,
        run.operations as f64 / elapsed.as_secs_f64() / 1e6
    );
    let mut overshoot = Vec::new();
    let runaway = SandboxLimits {
        timeout: Duration::from_millis(100),
        max_operations: u64::MAX,
        ..SandboxLimits::default()
    };
    for _ in 0..20 {
        let started = Instant::now();
        let run = runtime.block_on(sandbox::run("loop {}", ScriptContext::default(), &runaway));
        assert!(run.result.is_err());
        overshoot.push(started.elapsed().saturating_sub(runaway.timeout));
    }
    overshoot.sort();
    println!(
        "{:<58} p50 {:>9.2?}  max {:>9.2?}",
        "runaway loop, 100 ms deadline: stop after the deadline",
        percentile(&overshoot, 0.5),
        overshoot[overshoot.len() - 1]
    );

    println!("== email");
    let spec: EmailSpec = serde_json::from_value(json!({
        "to": ["{{ input.owner.name }} <{{ input.owner.email }}>"],
        "cc": ["ops@example.com"],
        "subject": "[{{ results.check.status }}] {{ input.site }}",
        "text": "{% for e in input.events %}{{ e.at }} {{ e.status }}\n{% endfor %}",
        "html": "<ul>{% for e in input.events %}<li>{{ e.at }}: {{ e.status }}</li>{% endfor %}</ul>"
    }))
    .expect("spec");
    let events: Vec<_> = (0..50)
        .map(|i| json!({"at": format!("10:{i:02}"), "status": "UP"}))
        .collect();
    let vars = json!({
        "input": {"site": "shop", "owner": {"name": "Ann", "email": "ann@example.com"}, "events": events},
        "results": {"check": {"status": "DOWN"}}
    });
    let from = "Nocron <noreply@example.com>".parse().expect("from");
    measure(
        "render and build an email (50-row text + HTML)",
        budget,
        || {
            let rendered = spec.render(black_box(&vars)).expect("render");
            black_box(rendered.to_message(&from).expect("message"));
        },
    );

    println!("== webhook signatures");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let verifier = SignatureVerifier::new(
        &SignatureConfig::StandardWebhooks {
            tolerance_seconds: None,
        },
        &[secret],
    )
    .expect("verifier");
    let body = vec![b'x'; 1024];
    let now = 1_700_000_000;
    let signature = StandardWebhooksKey::parse(secret)
        .expect("key")
        .sign("msg_1", now, &body);
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("webhook-id", "msg_1".parse().expect("header"));
    headers.insert(
        "webhook-timestamp",
        now.to_string().parse().expect("header"),
    );
    headers.insert("webhook-signature", signature.parse().expect("header"));
    measure(
        "verify a Standard Webhooks delivery (1 KiB body)",
        budget,
        || {
            black_box(verifier.verify(black_box(&headers), &body, now).is_ok());
        },
    );
}
