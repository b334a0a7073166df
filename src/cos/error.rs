//! COS's error codes, named once.
//!
//! The classifier ([`crate::send::retry`]) and the emulator both speak
//! these codes, so they come from one list: a typo in either would make a
//! test prove nothing.

/// The server asks the client to send less.
pub const SLOW_DOWN: &str = "SlowDown";
/// HTTP 429's code.
pub const TOO_MANY_REQUESTS: &str = "TooManyRequests";
/// A 503 that is not a request to slow down: the service is unavailable.
pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
/// Any 500.
pub const INTERNAL_ERROR: &str = "InternalError";
/// The request body arrived too slowly.
pub const REQUEST_TIMEOUT: &str = "RequestTimeout";
/// The signature's time window does not contain the server's time.
pub const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";
/// The SecretId is unknown.
pub const INVALID_ACCESS_KEY_ID: &str = "InvalidAccessKeyId";
/// The signature does not match the request.
pub const SIGNATURE_DOES_NOT_MATCH: &str = "SignatureDoesNotMatch";
/// The temporary credentials' token has expired.
pub const EXPIRED_TOKEN: &str = "ExpiredToken";
/// The temporary credentials' token is not valid.
pub const INVALID_TOKEN: &str = "InvalidToken";
/// The bucket does not exist (or not in this region).
pub const NO_SUCH_BUCKET: &str = "NoSuchBucket";
/// The id is not on the bucket.
pub const NO_SUCH_INVENTORY_CONFIGURATION: &str = "NoSuchInventoryConfiguration";
/// The credentials may not act on this bucket; also what COS answers an
/// expired signature with ("Request has expired").
pub const ACCESS_DENIED: &str = "AccessDenied";
/// POST Bucket inventory refused an id as a duplicate: equal to a periodic
/// job's, or a one-time job already submitted (that day, or still
/// running). A guess: the pages do not name the code; the Python SDK's
/// tests catch this name, so it is the likeliest. Its status is a guess
/// too (409, as for COS's other "already exists" answers); the classifier
/// keys on the code, so a different status would not change what a run
/// does with it.
pub const DUPLICATE_INVENTORY_ID: &str = "DuplicateInventoryId";
/// A body COS cannot read, or with elements the call does not allow.
pub const MALFORMED_XML: &str = "MalformedXML";
/// COS's message when a signature's window has ended.
pub const REQUEST_EXPIRED_MESSAGE: &str = "Request has expired";

/// Codes after which no request can succeed with these credentials.
pub const CREDENTIAL_CODES: [&str; 4] = [
    INVALID_ACCESS_KEY_ID,
    SIGNATURE_DOES_NOT_MATCH,
    EXPIRED_TOKEN,
    INVALID_TOKEN,
];
/// Codes after which no other request to the same bucket can succeed.
pub const BUCKET_CODES: [&str; 2] = [NO_SUCH_BUCKET, ACCESS_DENIED];
