//! Running a host program with a time limit: a wedged `systemctl` or `kubelet --version` must
//! not hang the first boot.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Why a program did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run it: {0}")]
    Spawn(#[source] io::Error),
    #[error("{status}{}", stderr_suffix(.stderr))]
    Failed { status: ExitStatus, stderr: String },
    #[error("no answer within {}s, killed", .0.as_secs())]
    TimedOut(Duration),
    #[error("cannot wait for it: {0}")]
    Wait(#[source] io::Error),
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl RunError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, RunError::TimedOut(_))
    }
}

/// Runs `program` with no input and returns its standard output; kills it after `timeout`.
/// Output is read while it runs, so a chatty program cannot block on a full pipe.
pub fn run_with_timeout(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<String, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Spawn)?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    // On a timeout the readers are left to finish on their own: a grandchild may still hold
    // the pipes.
    let status =
        wait_until(&mut child, Instant::now() + timeout)?.ok_or(RunError::TimedOut(timeout))?;
    let collect = |reader: Option<thread::JoinHandle<String>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    let out = collect(stdout);
    if status.success() {
        Ok(out)
    } else {
        Err(RunError::Failed {
            status,
            stderr: collect(stderr).trim().to_string(),
        })
    }
}

/// The exit status, or `None` (the child killed and reaped) once `deadline` passes.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>, RunError> {
    loop {
        if let Some(status) = child.try_wait().map_err(RunError::Wait)? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a pipe to its end on a thread of its own (lossy UTF-8).
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_of_a_successful_program_is_returned() {
        let out = run_with_timeout(Path::new("/bin/echo"), &["hello"], Duration::from_secs(30));
        assert_eq!(out.unwrap(), "hello\n");
    }

    #[test]
    fn a_failing_program_reports_its_status_and_standard_error() {
        let err = run_with_timeout(
            Path::new("/bin/sh"),
            &["-c", "echo broken unit >&2; exit 3"],
            Duration::from_secs(30),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("broken unit"), "{text}");
    }

    #[test]
    fn a_program_that_hangs_is_killed_at_the_deadline() {
        let err = run_with_timeout(Path::new("/bin/sleep"), &["600"], Duration::from_millis(50))
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }

    #[test]
    fn a_missing_program_cannot_be_run() {
        let err = run_with_timeout(
            Path::new("/nonexistent/kubeboot-no-such-program"),
            &[],
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert!(matches!(err, RunError::Spawn(_)), "{err}");
    }
}
