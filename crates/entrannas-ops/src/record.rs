//! Checkpoint files: what burn's recorder errors mean, in a sentence a user can act on.

use burn::record::RecorderError;

/// Whether a record was being read or written when burn failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAccess {
    /// Loading a checkpoint.
    Read,
    /// Saving a checkpoint.
    Write,
}

/// Describes a failure to read or write a burn record (a checkpoint's `.mpk` file).
///
/// burn reports a file cut short (a copy or a write that was interrupted) as a
/// deserialization error followed by advice about record formats older than burn 0.14,
/// which does not apply to our checkpoints; this says what happened instead and keeps
/// burn's first line as the detail.
pub fn describe_recorder_error(error: &RecorderError, access: RecordAccess) -> String {
    let (kind, detail) = match (error, access) {
        (
            RecorderError::FileNotFound(detail)
            | RecorderError::DeserializeError(detail)
            | RecorderError::Unknown(detail),
            RecordAccess::Write,
        ) => ("cannot write the file", detail),
        (RecorderError::FileNotFound(detail), RecordAccess::Read) => {
            ("the file does not exist", detail)
        }
        (
            RecorderError::DeserializeError(detail) | RecorderError::Unknown(detail),
            RecordAccess::Read,
        ) => {
            let truncated = ["UnexpectedEof", "unexpected end of file"]
                .iter()
                .any(|sign| detail.contains(sign));
            let kind = if truncated {
                "the file ends early: it was cut short (an interrupted copy or write)"
            } else {
                "the file is not a checkpoint this version of entrannas can read"
            };
            (kind, detail)
        }
    };
    let first_line = detail.lines().next().unwrap_or_default().trim();
    if first_line.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} (burn: {first_line})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_record_is_called_so_without_burns_format_advice() {
        let burn_says = RecorderError::Unknown(
            "InvalidDataRead(Kind(UnexpectedEof))\nThe internal data format has changed since version 0.14.0. ...".into(),
        );
        let said = describe_recorder_error(&burn_says, RecordAccess::Read);
        assert!(said.starts_with("the file ends early"), "{said}");
        assert!(
            said.contains("(burn: InvalidDataRead(Kind(UnexpectedEof)))"),
            "{said}"
        );
        assert!(!said.contains("0.14.0"), "{said}");
        let io =
            RecorderError::Unknown("IO error while reading data: unexpected end of file".into());
        assert!(
            describe_recorder_error(&io, RecordAccess::Read).starts_with("the file ends early")
        );
    }

    #[test]
    fn other_failures_keep_their_kind() {
        let missing = RecorderError::FileNotFound("run/last/model.mpk".into());
        assert_eq!(
            describe_recorder_error(&missing, RecordAccess::Read),
            "the file does not exist (burn: run/last/model.mpk)"
        );
        let garbage = RecorderError::DeserializeError("invalid tag 9".into());
        assert!(
            describe_recorder_error(&garbage, RecordAccess::Read)
                .starts_with("the file is not a checkpoint")
        );
        assert_eq!(
            describe_recorder_error(&RecorderError::Unknown(String::new()), RecordAccess::Read),
            "the file is not a checkpoint this version of entrannas can read"
        );
    }

    #[test]
    fn a_failed_write_is_not_called_a_bad_checkpoint() {
        let full = RecorderError::Unknown("IO error: No space left on device (os error 28)".into());
        assert_eq!(
            describe_recorder_error(&full, RecordAccess::Write),
            "cannot write the file (burn: IO error: No space left on device (os error 28))"
        );
    }
}
