//! The inbound SMTP listener (`INBOUND_SMTP_ADDR`): a small receive-only SMTP server for
//! email-trigger addresses `task-{token}@INBOUND_DOMAIN`.
//!
//! It speaks the few commands delivery needs (RFC 5321): `EHLO`/`HELO`, `MAIL FROM` (with the
//! `SIZE` parameter), `RCPT TO`, `DATA` (with dot-unstuffing), `RSET`, `NOOP`, `QUIT`, and
//! answers `VRFY` without confirming anything. Unknown recipients are refused at `RCPT` (550),
//! so no bounce is ever generated. Limits: command lines of 512 bytes, message lines of 1000,
//! `INBOUND_EMAIL_MAX_BYTES` per message (advertised with `SIZE` and enforced while reading),
//! 50 recipients, `INBOUND_SMTP_TIMEOUT_SECONDS` of silence, `INBOUND_SMTP_MAX_CONNECTIONS`
//! sessions at once. No TLS: put it behind an MTA that terminates it, or on a private network.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use super::InboundState;
use super::{
    email::{self, EmailTarget},
    message::{self, Envelope},
};
use crate::error::ErrorCode;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;
/// Longest message line, CRLF included (RFC 5321 §4.5.3.1.6).
const MAX_TEXT_LINE: usize = 1000;
/// Most recipients of one message.
const MAX_RECIPIENTS: usize = 50;
/// Unrecognised or out-of-order commands before the session is closed.
const MAX_ERRORS: u32 = 10;

/// Binds the listener and serves sessions on the state's task tracker until shutdown.
/// Returns the bound address.
pub async fn start(state: &InboundState, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for SMTP on {addr} (INBOUND_SMTP_ADDR)"))?;
    let bound = listener.local_addr()?;
    let settings = &state.settings.triggers;
    let config = Arc::new(SessionConfig {
        domain: settings.inbound_domain.clone().unwrap_or_default(),
        max_size: settings.inbound_email_max_bytes,
        timeout: settings.inbound_smtp_timeout,
    });
    let permits = Arc::new(Semaphore::new(settings.inbound_smtp_max_connections));
    let state = state.clone();
    let tracker = state.tasks.clone();
    tracing::info!(address = %bound, "inbound SMTP listening");
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "inbound SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tokio::spawn(refuse_busy(stream));
                continue;
            };
            let state = state.clone();
            let config = config.clone();
            state.tasks.clone().spawn(async move {
                let shutdown = state.shutdown.clone();
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    result = serve(&state, &config, stream) => {
                        if let Err(err) = result {
                            tracing::debug!(error = %err, %peer, "inbound SMTP session ended");
                        }
                    }
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}

async fn refuse_busy(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"421 4.3.2 too many connections, try again later\r\n")
        .await;
}

/// What every session needs to know.
struct SessionConfig {
    domain: String,
    max_size: usize,
    timeout: Duration,
}

/// How reading a line ended.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A whole line is in the buffer (CRLF or LF included).
    Complete,
    /// The line was longer than the limit; it was read and discarded.
    TooLong,
    /// The peer closed the connection.
    Closed,
}

/// Reads one line of at most `max` bytes into `buf`; a longer line is consumed and dropped.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Closed);
        }
        let (len, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() + len > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..len]);
            }
        }
        reader.consume(len);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `<address>` after `FROM:`/`TO:`, and the parameters after it.
fn path_and_params<'a>(argument: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

/// The `SIZE=` parameter of `MAIL FROM`, if given.
fn declared_size(params: &str) -> Option<u64> {
    params.split_ascii_whitespace().find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.eq_ignore_ascii_case("SIZE")
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// One mail transaction's state.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    recipients: Vec<(String, EmailTarget)>,
}

async fn reply<W: AsyncWrite + Unpin>(writer: &mut W, text: &str) -> std::io::Result<()> {
    writer.write_all(text.as_bytes()).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}

/// Runs one SMTP session.
async fn serve(
    state: &InboundState,
    config: &SessionConfig,
    stream: TcpStream,
) -> anyhow::Result<()> {
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    let domain = config.domain.as_str();
    reply(&mut writer, &format!("220 {domain} Nocron ESMTP ready")).await?;
    let mut greeted = false;
    let mut transaction = Transaction::default();
    let mut errors = 0u32;
    let mut line = Vec::with_capacity(MAX_COMMAND_LINE);
    loop {
        if errors >= MAX_ERRORS {
            reply(&mut writer, "421 4.7.0 too many errors, closing").await?;
            return Ok(());
        }
        let read = tokio::time::timeout(
            config.timeout,
            read_line(&mut reader, &mut line, MAX_COMMAND_LINE),
        )
        .await;
        match read {
            Err(_) => {
                reply(&mut writer, "421 4.4.2 idle too long, closing").await?;
                return Ok(());
            }
            Ok(Err(err)) => return Err(err.into()),
            Ok(Ok(Line::Closed)) => return Ok(()),
            Ok(Ok(Line::TooLong)) => {
                errors += 1;
                reply(&mut writer, "500 5.5.2 line too long").await?;
                continue;
            }
            Ok(Ok(Line::Complete)) => {}
        }
        let text = String::from_utf8_lossy(trim_eol(&line)).into_owned();
        let (verb, argument) = match text.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (text.trim().to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" => {
                greeted = true;
                transaction = Transaction::default();
                let size = config.max_size;
                reply(
                    &mut writer,
                    &format!(
                        "250-{domain} greets you\r\n250-SIZE {size}\r\n250-8BITMIME\r\n250 SMTPUTF8"
                    ),
                )
                .await?;
            }
            "HELO" => {
                greeted = true;
                transaction = Transaction::default();
                reply(&mut writer, &format!("250 {domain}")).await?;
            }
            "MAIL" => {
                if !greeted || transaction.mail_from.is_some() {
                    errors += 1;
                    reply(&mut writer, "503 5.5.1 send EHLO first, or RSET").await?;
                    continue;
                }
                let Some((path, params)) = path_and_params(argument, "FROM:") else {
                    errors += 1;
                    reply(&mut writer, "501 5.5.4 syntax: MAIL FROM:<address>").await?;
                    continue;
                };
                if declared_size(params).is_some_and(|size| size > config.max_size as u64) {
                    reply(&mut writer, "552 5.3.4 message size exceeds the limit").await?;
                    continue;
                }
                transaction.mail_from = Some(path.to_owned());
                reply(&mut writer, "250 2.1.0 OK").await?;
            }
            "RCPT" => {
                if transaction.mail_from.is_none() {
                    errors += 1;
                    reply(&mut writer, "503 5.5.1 send MAIL FROM first").await?;
                    continue;
                }
                let Some((path, _)) = path_and_params(argument, "TO:") else {
                    errors += 1;
                    reply(&mut writer, "501 5.5.4 syntax: RCPT TO:<address>").await?;
                    continue;
                };
                if transaction.recipients.len() >= MAX_RECIPIENTS {
                    reply(&mut writer, "452 4.5.3 too many recipients").await?;
                    continue;
                }
                let answer = recipient(state, domain, path, &mut transaction).await;
                if answer.starts_with('5') {
                    errors += 1;
                }
                reply(&mut writer, answer).await?;
            }
            "DATA" => {
                if transaction.recipients.is_empty() {
                    errors += 1;
                    reply(&mut writer, "503 5.5.1 no valid recipients").await?;
                    continue;
                }
                reply(&mut writer, "354 end data with <CR><LF>.<CR><LF>").await?;
                let answer = match read_data(&mut reader, config).await? {
                    Data::Closed => return Ok(()),
                    Data::TimedOut => {
                        reply(&mut writer, "421 4.4.2 idle too long, closing").await?;
                        return Ok(());
                    }
                    Data::TooLarge => "552 5.3.4 message size exceeds the limit".to_owned(),
                    Data::LineTooLong => {
                        "552 5.3.4 a message line is longer than 1000 bytes".to_owned()
                    }
                    Data::Message(raw) => deliver(state, &transaction, &raw).await,
                };
                transaction = Transaction::default();
                reply(&mut writer, &answer).await?;
            }
            "RSET" => {
                transaction = Transaction::default();
                reply(&mut writer, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut writer, "250 2.0.0 OK").await?,
            "VRFY" => reply(&mut writer, "252 2.5.0 cannot verify, send the message").await?,
            "QUIT" => {
                reply(&mut writer, &format!("221 2.0.0 {domain} closing")).await?;
                return Ok(());
            }
            _ => {
                errors += 1;
                reply(&mut writer, "502 5.5.2 command not implemented").await?;
            }
        }
    }
}

/// Checks a recipient and adds it to the transaction; returns the reply.
async fn recipient(
    state: &InboundState,
    domain: &str,
    address: &str,
    transaction: &mut Transaction,
) -> &'static str {
    let Some(token) = email::token_of_address(address, domain) else {
        return "550 5.1.1 no such mailbox";
    };
    let target = match email::find_target(&state.db, token).await {
        Ok(Some(target)) => target,
        Ok(None) => return "550 5.1.1 no such mailbox",
        Err(err) => {
            tracing::warn!(error = %err, "inbound SMTP cannot look up a recipient");
            return "451 4.3.0 temporary failure, try again later";
        }
    };
    if target.task_status != crate::tasks::model::TaskStatus::Active {
        return "550 5.2.1 mailbox disabled";
    }
    if state.runtime.limiter.check(&target.id).is_err() {
        super::inbound::count_delivery("email", "rate_limited");
        return "450 4.7.1 too many messages for this mailbox, try again later";
    }
    if !transaction
        .recipients
        .iter()
        .any(|(_, t)| t.id == target.id)
    {
        transaction.recipients.push((address.to_owned(), target));
    }
    "250 2.1.5 OK"
}

/// How reading a message's data ended.
enum Data {
    Message(Vec<u8>),
    TooLarge,
    LineTooLong,
    TimedOut,
    Closed,
}

/// Reads data lines up to the lone `.`, undoing dot-stuffing, within the size limit.
async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    config: &SessionConfig,
) -> std::io::Result<Data> {
    let mut message = Vec::new();
    let mut line = Vec::with_capacity(MAX_TEXT_LINE);
    let (mut too_large, mut too_long) = (false, false);
    loop {
        let read =
            tokio::time::timeout(config.timeout, read_line(reader, &mut line, MAX_TEXT_LINE)).await;
        match read {
            Err(_) => return Ok(Data::TimedOut),
            Ok(Err(err)) => return Err(err),
            Ok(Ok(Line::Closed)) => return Ok(Data::Closed),
            Ok(Ok(Line::TooLong)) => {
                too_long = true;
                continue;
            }
            Ok(Ok(Line::Complete)) => {}
        }
        let content = trim_eol(&line);
        if content == b"." {
            break;
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        if !too_large {
            if message.len() + content.len() + 2 > config.max_size {
                too_large = true;
                message = Vec::new();
            } else {
                message.extend_from_slice(content);
                message.extend_from_slice(b"\r\n");
            }
        }
    }
    Ok(if too_large {
        Data::TooLarge
    } else if too_long {
        Data::LineTooLong
    } else {
        Data::Message(message)
    })
}

/// Queues an execution per recipient's trigger; returns the reply to `DATA`.
async fn deliver(state: &InboundState, transaction: &Transaction, raw: &[u8]) -> String {
    let Some(mail) = message::parse_rfc822(raw) else {
        return "554 5.6.0 the message cannot be parsed".to_owned();
    };
    let mail_from = transaction.mail_from.clone().unwrap_or_default();
    let (mut queued, mut refused, mut failed) = (Vec::new(), 0, 0);
    for (address, target) in &transaction.recipients {
        let envelope = Envelope {
            mail_from: mail_from.clone(),
            rcpt_to: vec![address.clone()],
        };
        match email::accept(state, target, mail.clone(), Some(&envelope)).await {
            Ok(enqueued) => queued.push(enqueued.execution_id.to_string()),
            Err(err) if err.code() == ErrorCode::Conflict || err.code() == ErrorCode::NotFound => {
                refused += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err.detail(), trigger_id = %target.id, "inbound email not queued");
                failed += 1;
            }
        }
    }
    if !queued.is_empty() {
        format!("250 2.0.0 queued as {}", queued.join(","))
    } else if failed > 0 {
        "451 4.3.0 temporary failure, try again later".to_owned()
    } else {
        debug_assert!(refused > 0);
        "554 5.2.1 mailbox disabled".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_dropped_whole_and_reading_resumes() {
        let input: &[u8] = b"short\r\nxxxxxxxxxxxxxxxxxxxx\r\nnext\n";
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.expect("read"),
            Line::Complete
        );
        assert_eq!(buf, b"short\r\n");
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.expect("read"),
            Line::TooLong
        );
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.expect("read"),
            Line::Complete
        );
        assert_eq!(buf, b"next\n");
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.expect("read"),
            Line::Closed
        );
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_size_limited() {
        let config = SessionConfig {
            domain: "d".into(),
            max_size: 64,
            timeout: Duration::from_secs(5),
        };
        let mut reader = BufReader::new(&b"Subject: x\r\n\r\n..leading dot\r\n.\r\n"[..]);
        match read_data(&mut reader, &config).await.expect("read") {
            Data::Message(raw) => assert_eq!(raw, b"Subject: x\r\n\r\n.leading dot\r\n"),
            _ => panic!("expected a message"),
        }
        let big = format!("{}\r\n.\r\n", "a".repeat(100));
        let mut reader = BufReader::new(big.as_bytes());
        assert!(matches!(
            read_data(&mut reader, &config).await.expect("read"),
            Data::LineTooLong | Data::TooLarge
        ));
    }

    #[test]
    fn commands_arguments_parse() {
        assert_eq!(
            path_and_params("FROM:<a@b> SIZE=100 BODY=8BITMIME", "FROM:"),
            Some(("a@b", "SIZE=100 BODY=8BITMIME"))
        );
        assert_eq!(path_and_params("to: <x@y>", "TO:"), Some(("x@y", "")));
        assert_eq!(path_and_params("FROM:a@b", "FROM:"), None);
        assert_eq!(declared_size("SIZE=100 BODY=8BITMIME"), Some(100));
        assert_eq!(declared_size("BODY=8BITMIME"), None);
    }
}
