//! Whether the scheduler fires a task: a leaf the domain events name without reaching into
//! the rest of the task model.

use crate::text_enum;

text_enum! {
    /// Whether the scheduler fires a task.
    pub enum TaskStatus {
        /// Scheduled and triggerable.
        Active = "ACTIVE",
        /// Not fired until resumed; slots during the pause are recorded in the ledger.
        Paused = "PAUSED",
        /// Stopped by its owner.
        Stopped = "STOPPED",
        /// Stopped by the engine after too many consecutive dead executions.
        Failed = "FAILED",
    }
}
