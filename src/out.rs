//! Standard output for the CLI: write errors are errors (a closed pipe ends the program quietly,
//! as `ringload inspect plan | head` should), never a panic.

use std::io::Write;

use crate::error::CliError;

/// Write `text` to standard output and flush it.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::Runtime(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// Check, before any work, that an output file named with `flag` (`-o`, `--html`) can be
/// written: an existing file must be a file that opens for writing (it is not truncated), a new
/// one needs an existing directory that takes a new file (a probe file is created there and
/// removed). Nothing is created or changed, so a run that fails later leaves no empty file.
pub fn check_writable(flag: &str, path: &std::path::Path) -> Result<(), CliError> {
    let bad = |why: String| CliError::BadInput(format!("{flag} {}: {why}", path.display()));
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(bad("is a directory".into())),
        Ok(_) => {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map(drop)
                .map_err(|e| bad(format!("cannot be written: {e}")));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(bad(format!("cannot be written: {e}")));
        }
        Err(_) => {}
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad(format!("{} is not a directory", dir.display()))),
        Err(e) => return Err(bad(format!("directory {}: {e}", dir.display()))),
    }
    let probe = dir.join(format!(".ringload-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| bad(format!("cannot create a file in {}: {e}", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// [`check_writable`] for each output that is set.
pub fn check_outputs<'a>(
    outputs: impl IntoIterator<Item = (&'a str, Option<&'a std::path::Path>)>,
) -> Result<(), CliError> {
    for (flag, path) in outputs {
        if let Some(p) = path {
            check_writable(flag, p)?;
        }
    }
    Ok(())
}

/// Print every gate's verdict (failed ones first, each with its measured value) and return
/// the exit code: 3 when any failed, else 0.
pub fn gates_exit(verdicts: &[ringload_results::Verdict]) -> Result<u8, CliError> {
    let mut text = String::new();
    for v in verdicts.iter().filter(|v| v.failed) {
        text.push_str(&format!("THRESHOLD FAILED: {}\n", v.description));
    }
    for v in verdicts.iter().filter(|v| !v.failed) {
        text.push_str(&format!("threshold passed: {}\n", v.description));
    }
    emit(&text)?;
    Ok(if verdicts.iter().any(|v| v.failed) {
        crate::error::EXIT_THRESHOLD
    } else {
        crate::error::EXIT_OK
    })
}

/// Write a run's (or merge's) result as JSON and/or HTML where asked.
pub fn write_result(
    report: &ringload_results::Report,
    json: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> Result<(), CliError> {
    if let Some(out) = json {
        let text =
            serde_json::to_vec_pretty(report).map_err(|e| CliError::Runtime(e.to_string()))?;
        write_file(out, &text)?;
    }
    if let Some(out) = html {
        write_file(
            out,
            ringload_results::render::html::run_page(report).as_bytes(),
        )?;
    }
    Ok(())
}

/// Write an output file; a failure names the file.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))
}
