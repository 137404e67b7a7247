//! Task import and export: `GET /tasks/export` ([`export`]) streams the caller's tasks as
//! JSON or CSV ([`csv`]) records ([`record`]); `POST /tasks/import` ([`import`]) reads them
//! back ([`parse`]) with the rules of `POST /tasks`.

pub mod csv;
pub mod export;
pub mod import;
pub mod parse;
pub mod record;
