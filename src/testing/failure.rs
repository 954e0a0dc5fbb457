//! Plain's request-level errors: an HTTP status, an `extensions.code` and a message, sent as
//! `{"errors":[{"message":...,"extensions":{"code":...}}]}`.

/// A request-level failure: HTTP status, `extensions.code` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFailure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl RequestFailure {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A `BAD_USER_INPUT` refusal, for an argument or a variable of the wrong value.
    pub fn bad_input(message: String) -> Self {
        Self::new(400, "BAD_USER_INPUT", message)
    }

    /// Plain's body for it: `{"errors":[{"message":...,"extensions":{"code":...}}]}`.
    pub fn body(&self) -> Vec<u8> {
        error_body(&self.message, self.code)
    }
}

/// Plain's body for a request-level error.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]})
        .to_string()
        .into_bytes()
}
