//! The HTTP front (actix-web). Work in progress: see issue 3.

use crate::cli::ServeArgs;

/// Runs the server until it is stopped.
pub fn serve(_args: ServeArgs) -> std::io::Result<()> {
    Err(std::io::Error::other("the HTTP server is not built yet"))
}
