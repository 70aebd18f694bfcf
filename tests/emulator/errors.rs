//! Odoo's exceptions as they travel over the wire: a Python class name, a message, and for
//! JSON-2 an HTTP status.

/// The exception classes the emulator raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccessError,
    AccessDenied,
    MissingError,
    ValidationError,
    UserError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    Exception,
    NameError,
    IndexError,
    OperationalError,
    SessionExpired,
    NotFound,
    UnprocessableEntity,
    BadRequest,
    Unauthorized,
    MethodNotAllowed,
}

impl Kind {
    /// The dotted class name Odoo puts in `data.name` / JSON-2 `name`.
    pub fn class(self) -> &'static str {
        match self {
            Kind::AccessError => "odoo.exceptions.AccessError",
            Kind::AccessDenied => "odoo.exceptions.AccessDenied",
            Kind::MissingError => "odoo.exceptions.MissingError",
            Kind::ValidationError => "odoo.exceptions.ValidationError",
            Kind::UserError => "odoo.exceptions.UserError",
            Kind::ValueError => "builtins.ValueError",
            Kind::TypeError => "builtins.TypeError",
            Kind::AttributeError => "builtins.AttributeError",
            Kind::KeyError => "builtins.KeyError",
            Kind::Exception => "builtins.Exception",
            Kind::NameError => "builtins.NameError",
            Kind::IndexError => "builtins.IndexError",
            Kind::OperationalError => "psycopg2.OperationalError",
            Kind::SessionExpired => "odoo.http.SessionExpiredException",
            Kind::NotFound => "werkzeug.exceptions.NotFound",
            Kind::UnprocessableEntity => "werkzeug.exceptions.UnprocessableEntity",
            Kind::BadRequest => "werkzeug.exceptions.BadRequest",
            Kind::Unauthorized => "werkzeug.exceptions.Unauthorized",
            Kind::MethodNotAllowed => "werkzeug.exceptions.MethodNotAllowed",
        }
    }

    /// HTTP status of the JSON-2 answer (`UserError.http_status`, werkzeug codes, else 500).
    pub fn http_status(self) -> u16 {
        match self {
            Kind::AccessError | Kind::AccessDenied | Kind::SessionExpired => 403,
            Kind::MissingError | Kind::NotFound => 404,
            Kind::ValidationError | Kind::UserError | Kind::UnprocessableEntity => 422,
            Kind::BadRequest => 400,
            Kind::Unauthorized => 401,
            Kind::MethodNotAllowed => 405,
            _ => 500,
        }
    }

    /// werkzeug HTTP exceptions carry `[description, code]` as their arguments.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Kind::NotFound
                | Kind::UnprocessableEntity
                | Kind::BadRequest
                | Kind::Unauthorized
                | Kind::MethodNotAllowed
        )
    }
}

#[derive(Debug, Clone)]
pub struct OdooError {
    pub kind: Kind,
    pub message: String,
}

pub type OResult<T> = Result<T, OdooError>;

impl OdooError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        OdooError {
            kind,
            message: message.into(),
        }
    }
    pub fn access(message: impl Into<String>) -> Self {
        Self::new(Kind::AccessError, message)
    }
    pub fn value(message: impl Into<String>) -> Self {
        Self::new(Kind::ValueError, message)
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new(Kind::TypeError, message)
    }
    pub fn user(message: impl Into<String>) -> Self {
        Self::new(Kind::UserError, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Kind::ValidationError, message)
    }
    pub fn access_denied() -> Self {
        Self::new(Kind::AccessDenied, "Access Denied")
    }
}

/// What Odoo shows for a database that does not exist: psycopg2's message, which names the
/// PostgreSQL host and port. A client must not pass it on as is.
pub fn missing_database(db: &str) -> OdooError {
    OdooError::new(
        Kind::OperationalError,
        format!(
            "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  database \"{db}\" does not exist\n"
        ),
    )
}

/// The recordings replace every server traceback by this line; the emulator sends the same.
pub const DEBUG_PLACEHOLDER: &str =
    "Traceback (most recent call last):\n  ... server traceback elided ...\n";
