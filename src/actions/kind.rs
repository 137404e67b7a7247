//! The kinds of action a task can run.

use crate::text_enum;

text_enum! {
    /// What a task does when it runs.
    pub enum ActionType {
        /// An HTTP request.
        HttpRequest = "HTTP_REQUEST",
        /// Sends an email.
        EmailSend = "EMAIL_SEND",
        /// Runs a database query.
        DatabaseQuery = "DATABASE_QUERY",
        /// A JSON API call whose response is captured for chaining.
        ApiCall = "API_CALL",
        /// Runs a script.
        CustomScript = "CUSTOM_SCRIPT",
        /// Synchronises with Notion.
        NotionSync = "NOTION_SYNC",
    }
}
