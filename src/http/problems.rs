//! Problem documents for error responses that no handler wrote: unknown routes, wrong
//! methods, body-limit and timeout rejections from tower layers, and panics.

use std::any::Any;

use axum::{
    extract::{Request, State},
    http::{Method, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::{AppError, ErrorCode, problem, problem_response};

/// Router fallback: an unknown path is a 404 problem naming it.
pub async fn not_found(method: Method, uri: Uri) -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

/// Middleware: replaces the body of any 4xx/5xx response that is not already JSON with a
/// problem document of the same status, keeping headers such as `Allow` and `Retry-After`.
pub async fn for_bare_errors(
    State(body_limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let already_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if already_json {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let detail = match code {
        ErrorCode::MethodNotAllowed => format!("this route does not accept {method}"),
        ErrorCode::PayloadTooLarge => {
            format!("the request body exceeds the limit of {body_limit} bytes")
        }
        ErrorCode::RequestTimeout => "the request took longer than the server allows".to_owned(),
        ErrorCode::NotFound => "not found".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut document = problem(code, detail, Vec::new());
    document.status = status.as_u16();
    let (parts, _) = response.into_parts();
    let mut replacement = problem_response(&document);
    *replacement.status_mut() = status;
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    replacement
}

/// `CatchPanicLayer` handler: a panic becomes an opaque 500 problem; the message is logged.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    AppError::new(ErrorCode::InternalError, "an unexpected error occurred").into_response()
}
