//! `on_constraint`: a broken unique constraint becomes a client error where the query runs,
//! named after the constraint, so every other failure keeps its usual meaning.

/// Maps a query's unique violation of one named constraint (or unique index).
pub trait OnConstraint<T> {
    /// `map(err)` when the query broke the unique constraint `name`; any other error
    /// converts into `E` as usual (a 409 for other unique violations, see `AppError`).
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        name: &str,
        map: impl FnOnce(sqlx::Error) -> E,
    ) -> Result<T, E>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        name: &str,
        map: impl FnOnce(sqlx::Error) -> E,
    ) -> Result<T, E> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some(name) =>
            {
                map(err)
            }
            _ => E::from(err),
        })
    }
}
