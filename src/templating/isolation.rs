//! One rendering in a forked child whose address space is capped (`RLIMIT_AS`).
//!
//! The output, value, fuel and `range` bounds see what a template prints; they cannot see a
//! value that is built and never printed (concatenation carried through `set`,
//! `namespace()`, macros or nested loops doubles with every step, and filters such as
//! `join` or `center` build large strings from small inputs). So every rendering runs in a
//! child process that may grow its address space by at most `TEMPLATE_MAX_MEMORY_BYTES`:
//! past that its allocations fail, it dies, and the parent reports the limit. The child only
//! renders, writes its result to a pipe and leaves with `_exit`: it runs no destructor,
//! touches no socket, and takes no lock but the allocator's, which glibc resets in a forked
//! child. A child that does not answer within [`RENDER_TIMEOUT`] is killed.

use std::{
    io::Read,
    os::fd::{FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use super::{Budget, TemplateError, TemplateLimits};

/// How long a rendering may take, fuel notwithstanding (a child stuck for any reason).
const RENDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `render` in a child process under the memory bound and returns its result; the
/// output `budget` is charged with what the child spent.
pub(super) fn isolated(
    limits: &TemplateLimits,
    budget: &Budget,
    render: impl FnOnce() -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let (read_end, write_end) = pipe()?;
    let address_space =
        current_address_space().and_then(|now| now.checked_add(limits.max_memory_bytes as u64));
    // SAFETY: the child below only renders (allocation and pure computation), writes to
    // its pipe and calls `_exit`; it never returns into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(internal("fork failed"));
    }
    if pid == 0 {
        drop(read_end);
        if let Some(limit) = address_space {
            let bound = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            // SAFETY: setrlimit reads the struct we pass.
            unsafe { libc::setrlimit(libc::RLIMIT_AS, &bound) };
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(render));
        let code = match result {
            Ok(result) => {
                write_all(&write_end, &encode(&result, budget));
                0
            }
            Err(_) => 2,
        };
        // SAFETY: ends the child at once, without unwinding into the parent's code.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let (message, timed_out) = read_answer(read_end, pid, limits);
    reap(pid);
    match decode(&message, budget) {
        Some(result) => result,
        None if timed_out => Err(TemplateError {
            message: format!(
                "template rendering took longer than {} s",
                RENDER_TIMEOUT.as_secs()
            ),
            limit: true,
        }),
        None => Err(TemplateError {
            message: format!(
                "template rendering exceeded TEMPLATE_MAX_MEMORY_BYTES ({} bytes)",
                limits.max_memory_bytes
            ),
            limit: true,
        }),
    }
}

fn internal(what: &str) -> TemplateError {
    TemplateError {
        message: format!("template error: {what}"),
        limit: false,
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), TemplateError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(internal("pipe failed"));
    }
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The process's address space now, in bytes (`/proc/self/statm`), which the child's bound
/// is added to; `None` leaves the child unbounded (not Linux).
fn current_address_space() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.checked_mul(u64::try_from(page).ok()?)
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) {
    use std::os::fd::AsRawFd;
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice to our own descriptor.
        let written = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if written <= 0 {
            return;
        }
        bytes = &bytes[written as usize..];
    }
}

/// Reads the child's answer until it closes the pipe, at most what a result can hold; kills
/// the child when [`RENDER_TIMEOUT`] passes first.
fn read_answer(read_end: OwnedFd, pid: libc::pid_t, limits: &TemplateLimits) -> (Vec<u8>, bool) {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + RENDER_TIMEOUT;
    let cap = limits.max_output_bytes + 64 * 1024;
    let mut pipe = std::fs::File::from(read_end);
    let mut message = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: polls one descriptor we own.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready == 0 {
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return (Vec::new(), true);
        }
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return (Vec::new(), false);
        }
        match pipe.read(&mut chunk) {
            Ok(0) => return (message, false),
            Ok(read) if message.len() + read <= cap => message.extend_from_slice(&chunk[..read]),
            Ok(_) => {
                // SAFETY: signals our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return (Vec::new(), false);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (Vec::new(), false),
        }
    }
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child.
        let done = unsafe { libc::waitpid(pid, &mut status, 0) };
        if done >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// `[ok][limit][exceeded][remaining: u64 LE][text]`: the result and the budget left.
fn encode(result: &Result<String, TemplateError>, budget: &Budget) -> Vec<u8> {
    let (ok, limit, text) = match result {
        Ok(text) => (1u8, 0u8, text.as_str()),
        Err(err) => (0, u8::from(err.limit), err.message.as_str()),
    };
    let mut bytes = Vec::with_capacity(11 + text.len());
    bytes.extend_from_slice(&[ok, limit, u8::from(budget.exceeded.get())]);
    bytes.extend_from_slice(&(budget.remaining.get() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn decode(bytes: &[u8], budget: &Budget) -> Option<Result<String, TemplateError>> {
    let (head, text) = bytes.split_at_checked(11)?;
    let remaining = u64::from_le_bytes(head[3..11].try_into().ok()?);
    budget
        .remaining
        .set(usize::try_from(remaining).ok()?.min(budget.remaining.get()));
    budget.exceeded.set(budget.exceeded.get() || head[2] == 1);
    let text = String::from_utf8_lossy(text).into_owned();
    Some(if head[0] == 1 {
        Ok(text)
    } else {
        Err(TemplateError {
            message: text,
            limit: head[1] == 1,
        })
    })
}
