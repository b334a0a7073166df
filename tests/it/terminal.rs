//! The binary on a real terminal (a pseudo-terminal this test holds the
//! other end of): what an operator at a keyboard meets.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Scenario, apply_to};

/// A pseudo-terminal: the end this test reads and types on, and the end
/// the child gets as its terminal.
fn pty() -> (File, OwnedFd) {
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty writes two file descriptors it opened; no name,
    // settings or window size are passed.
    let opened = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe {
        (
            File::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

/// Starts `command` in a session of its own whose controlling terminal is
/// `terminal` (stdin and stderr), so that Ctrl-C typed there is SIGINT
/// to it, as at a shell prompt.
fn spawn_on(mut command: Command, terminal: OwnedFd) -> Child {
    command
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .stdout(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

/// Everything the terminal shows, as it comes, on a thread of its own.
fn screen(mut controller: File) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        // Ends with an error (EIO) once the child has closed its end.
        while let Ok(read @ 1..) = controller.read(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
            if sender.send(text).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits (bounded) until the terminal has shown `wanted`; what it showed.
fn wait_for(screen: &mpsc::Receiver<String>, shown: &mut String, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !shown.contains(wanted) {
        let left = deadline.saturating_duration_since(Instant::now());
        match screen.recv_timeout(left) {
            Ok(text) => shown.push_str(&text),
            Err(_) => panic!("the terminal never showed {wanted:?}; it showed:\n{shown}"),
        }
    }
}

/// The child's exit code, killing it if it does not end in time.
fn exit_code(mut child: Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_the_prune_question_deletes_nothing_and_leaves_no_report() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(2, 1).await;
    let bucket = "b00000-1250000000";
    let plan = cosinv::plan::load(std::slice::from_ref(&manifest)).unwrap();
    let mut unmanaged = plan.jobs()[0].config();
    unmanaged.id = cosinv::model::InventoryId::parse("hand-made").unwrap();
    emulator.insert_inventory(bucket, unmanaged);
    let report = dir.path().join("r.csv");
    let command = apply_to(dir.path(), &manifest, &emulator, &report, &["--prune"]);
    let (controller, terminal) = pty();
    let mut typing = controller.try_clone().unwrap();
    let child = spawn_on(command, terminal);
    let code = tokio::task::spawn_blocking(move || {
        let screen = screen(controller);
        let mut shown = String::new();
        wait_for(&screen, &mut shown, "Type yes");
        // Ctrl-C, as the terminal's line discipline turns it into SIGINT.
        typing.write_all(b"\x03").unwrap();
        exit_code(child)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130));
    assert!(
        emulator
            .inventory_ids(bucket)
            .contains(&"hand-made".to_string())
    );
    assert!(!report.exists(), "declining must leave no report");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("r.") || name.starts_with("cosinv-report"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
