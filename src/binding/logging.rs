//! logging (todo)
