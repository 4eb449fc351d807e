//! Checkpoint files: records written and read through the standard library (so that a
//! full disk, a read-only directory or a missing permission reaches the user as the
//! operating system's own words, naming the file), and what burn's recorder errors
//! mean, in a sentence a user can act on.

use std::fs;
use std::path::Path;

use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder, RecorderError};
use burn::tensor::backend::Backend;

use crate::durable::write_synced;
use crate::error::{RunError, io};

/// The format of every checkpoint record: named MessagePack at full precision, the
/// bytes burn's `NamedMpkFileRecorder` writes (which earlier versions used, so their
/// checkpoints load), encoded in memory and written by [`save_record_file`].
pub type RecordFormat = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Encodes `record` in [`RecordFormat`] and writes it to `path` (the `.mpk` file name
/// itself, not burn's extension-less stem), on the disk when this returns.
pub fn save_record_file<B: Backend, R: Record<B>>(record: R, path: &Path) -> Result<(), RunError> {
    let bytes = Recorder::<B>::record(&RecordFormat::default(), record, ()).map_err(|e| {
        RunError::Record {
            path: path.to_path_buf(),
            message: describe_recorder_error(&e, RecordAccess::Write),
        }
    })?;
    write_synced(path, &bytes)
}

/// Reads a record of type `R` written by [`save_record_file`] (or by burn's
/// `NamedMpkFileRecorder` at full precision) from `path` onto `device`.
pub fn load_record_file<B: Backend, R: Record<B>>(
    path: &Path,
    device: &B::Device,
) -> Result<R, RunError> {
    let bytes = fs::read(path).map_err(io("read", path))?;
    Recorder::<B>::load(&RecordFormat::default(), bytes, device).map_err(|e| RunError::Record {
        path: path.to_path_buf(),
        message: describe_recorder_error(&e, RecordAccess::Read),
    })
}

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

    type B = burn::backend::Flex;
    type LinearRecord = <burn::nn::Linear<B> as burn::module::Module<B>>::Record;

    fn linear() -> burn::nn::Linear<B> {
        burn::nn::LinearConfig::new(3, 2).init(&Default::default())
    }

    #[test]
    fn records_round_trip_and_burns_file_recorder_format_loads() {
        use burn::module::Module;
        use burn::record::{FileRecorder, NamedMpkFileRecorder};
        let dir = tempfile::tempdir().unwrap();
        let net = linear();
        let weights = |m: &burn::nn::Linear<B>| m.weight.val().into_data().to_vec::<f32>().unwrap();
        // burn draws a parameter when it is first read: read it before cloning, so that
        // every clone holds these values.
        let expected = weights(&net);
        let ours = dir.path().join("ours.mpk");
        save_record_file::<B, _>(net.clone().into_record(), &ours).unwrap();
        // What earlier versions wrote, through burn's file recorder.
        let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
        net.clone()
            .save_file(dir.path().join("burns"), &recorder)
            .unwrap();
        let burns = dir.path().join(format!(
            "burns.{}",
            <NamedMpkFileRecorder<FullPrecisionSettings> as FileRecorder<B>>::file_extension()
        ));
        for path in [&ours, &burns] {
            let record = load_record_file::<B, _>(path, &Default::default()).unwrap();
            let loaded = linear().load_record(record);
            assert_eq!(weights(&loaded), expected, "{}", path.display());
        }
    }

    #[test]
    fn file_system_faults_name_the_file_and_the_operating_systems_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.mpk");
        let Err(err) = load_record_file::<B, LinearRecord>(&missing, &Default::default()) else {
            panic!("a missing file loaded");
        };
        let err = err.to_string();
        assert!(
            err.starts_with(&format!("cannot read {}: ", missing.display()))
                && err.contains("No such file or directory"),
            "{err}"
        );
        // A directory whose parent is a file: the write fails, naming the file.
        let blocked = dir.path().join("file");
        fs::write(&blocked, b"x").unwrap();
        let inside = blocked.join("net.mpk");
        let err = save_record_file::<B, _>(burn::module::Module::into_record(linear()), &inside)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("cannot write {}: ", inside.display()))
                && err.contains("Not a directory"),
            "{err}"
        );
        // A full disk, where the system has /dev/full: the operating system's words.
        if Path::new("/dev/full").exists() {
            let err = save_record_file::<B, _>(
                burn::module::Module::into_record(linear()),
                Path::new("/dev/full"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("No space left on device"), "{err}");
        }
        // Bytes that are not a record: the record's own message.
        let garbage = dir.path().join("garbage.mpk");
        fs::write(&garbage, b"\x93\x01").unwrap();
        let Err(err) = load_record_file::<B, LinearRecord>(&garbage, &Default::default()) else {
            panic!("garbage loaded");
        };
        assert!(matches!(err, RunError::Record { .. }), "{err:?}");
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
