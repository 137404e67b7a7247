//! Makes the assembled document say what the server really answers, whatever each handler's
//! `#[utoipa::path]` remembered to list: every error response is an
//! `application/problem+json` [`Problem`](crate::error::Problem), and the statuses that the
//! shared extractors and middleware produce are declared on every operation that can meet
//! them (the caller extractors' 401, `AppPath`/`AppQuery`'s 400, `AppJson`'s 400 and 422, the
//! body limit's 413, a missing object's 404, an unreachable database's 503).

use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
    path::{Operation, ParameterIn},
    schema::Schema,
};

use crate::error::PROBLEM_CONTENT_TYPE;

/// Paths whose handlers never touch the database, so they never answer 503 for it.
const WITHOUT_DATABASE: [&str; 3] = ["/health", "/metrics", "/cron/explain"];

/// Applies the rules of this module to every operation of `doc`.
pub fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            declare_shared_errors(path, operation);
            errors_are_problems(operation);
        }
    }
}

/// A response whose body is a problem document.
pub fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Every 4xx and 5xx response carries a problem document, under its real media type. A
/// response that already lists `application/problem+json` beside another body (the refused
/// import's report) is kept as the handler declared it.
fn errors_are_problems(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response)
            && !response.content.contains_key(PROBLEM_CONTENT_TYPE)
        {
            *response = problem_response(&response.description);
        }
    }
}

/// Adds the statuses the shared machinery answers with, where the handler did not list them.
fn declare_shared_errors(path: &str, operation: &mut Operation) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = |p: &&utoipa::openapi::path::Parameter| p.parameter_in == ParameterIn::Path;
    let has_path_parameters = parameters.iter().any(|p| in_path(&p));
    let parsed_path = parameters
        .iter()
        .filter(in_path)
        .any(|p| is_parsed(p.schema.as_ref()));
    let has_query = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.keys().any(|media| media.contains("json")));
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());

    let mut malformed = Vec::new();
    if parsed_path {
        malformed.push("a path parameter cannot be parsed");
    }
    if has_query {
        malformed.push("a query parameter cannot be parsed");
    }
    if json_body {
        malformed.push("the body is not JSON or not sent as `application/json`");
    }
    let mut shared: Vec<(&str, String)> = Vec::new();
    if !malformed.is_empty() {
        shared.push((
            "400",
            format!("The request is malformed: {}", malformed.join(", or ")),
        ));
    }
    if secured {
        shared.push((
            "401",
            "No credential, or one that is invalid, expired or revoked".to_owned(),
        ));
    }
    if has_path_parameters {
        shared.push(("404", "No such object of yours".to_owned()));
    }
    if json_body {
        shared.push((
            "413",
            "The body exceeds `REQUEST_BODY_LIMIT_BYTES`".to_owned(),
        ));
    }
    if json_body || has_query || has_path_parameters {
        // `AppJson` names a field of the wrong shape; every extractor refuses a NUL.
        shared.push((
            "422",
            "A field or parameter is invalid (or holds a NUL character); `errors` names it"
                .to_owned(),
        ));
    }
    if !WITHOUT_DATABASE.contains(&path) {
        shared.push((
            "503",
            "The database is unavailable; try again after `Retry-After`".to_owned(),
        ));
    }
    for (status, description) in shared {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(&description)));
    }
}

/// Whether a path parameter of this schema is parsed into something narrower than a string
/// (a UUID, a number, an enum), so a malformed value is a 400 rather than a 404.
fn is_parsed(schema: Option<&RefOr<Schema>>) -> bool {
    match schema {
        Some(RefOr::Ref(_)) => true,
        Some(RefOr::T(Schema::Object(object))) => {
            object.format.is_some() || object.enum_values.is_some()
        }
        Some(RefOr::T(_)) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{
        PathItem, Required, Response, ResponsesBuilder,
        path::{HttpMethod, OperationBuilder, ParameterBuilder},
        request_body::RequestBodyBuilder,
        schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
    };

    use super::*;

    fn document(path: &str, operation: Operation) -> OpenApi {
        let mut doc = OpenApi::default();
        doc.paths
            .paths
            .insert(path.to_owned(), PathItem::new(HttpMethod::Post, operation));
        doc
    }

    fn statuses(doc: &OpenApi, path: &str) -> Vec<String> {
        let operation = doc.paths.paths[path].post.as_ref().expect("post");
        operation.responses.responses.keys().cloned().collect()
    }

    fn response<'a>(doc: &'a OpenApi, path: &str, status: &str) -> &'a Response {
        let operation = doc.paths.paths[path].post.as_ref().expect("post");
        match &operation.responses.responses[status] {
            RefOr::T(response) => response,
            RefOr::Ref(_) => panic!("a reference"),
        }
    }

    #[test]
    fn errors_are_problem_documents_and_success_keeps_its_media_type() {
        let json = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let operation = OperationBuilder::new()
            .responses(
                ResponsesBuilder::new()
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("ok")
                            .content("text/plain", ContentBuilder::new().build()),
                    )
                    .response(
                        "409",
                        ResponseBuilder::new()
                            .description("taken")
                            .content("application/json", json),
                    ),
            )
            .build();
        let mut doc = document("/health", operation);
        finish(&mut doc);
        assert_eq!(statuses(&doc, "/health"), ["200", "409"]);
        let conflict = response(&doc, "/health", "409");
        assert_eq!(conflict.description, "taken");
        assert_eq!(
            conflict.content.keys().collect::<Vec<_>>(),
            [PROBLEM_CONTENT_TYPE]
        );
        let ok = response(&doc, "/health", "200");
        assert_eq!(ok.content.keys().collect::<Vec<_>>(), ["text/plain"]);
    }

    #[test]
    fn shared_statuses_follow_the_parameters_body_and_security() {
        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
        let operation = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(uuid)),
            )
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", ContentBuilder::new().build())
                    .build(),
            ))
            .security(utoipa::openapi::security::SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            ))
            .responses(ResponsesBuilder::new().response(
                "404",
                ResponseBuilder::new().description("No such task of yours"),
            ))
            .build();
        let mut doc = document("/tasks/{id}", operation);
        finish(&mut doc);
        assert_eq!(
            statuses(&doc, "/tasks/{id}"),
            ["400", "401", "404", "413", "422", "503"]
        );
        // What the handler said is kept.
        assert_eq!(
            response(&doc, "/tasks/{id}", "404").description,
            "No such task of yours"
        );
    }

    #[test]
    fn a_plain_string_in_the_path_is_never_malformed() {
        let operation = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("token")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            )
            .build();
        let mut doc = document("/hooks/{token}", operation);
        finish(&mut doc);
        assert_eq!(statuses(&doc, "/hooks/{token}"), ["404", "422", "503"]);
    }
}
