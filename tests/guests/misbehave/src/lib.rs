//! A rule module that misbehaves on purpose. Events whose `"act"` member names a
//! behaviour trigger it; all other events are kept. Behaviours:
//!
//! - `loop`: spin forever (the CPU deadline must stop it);
//! - `alloc`: allocate without bound (the memory cap must stop it);
//! - `panic`: panic with a message (a trap);
//! - `reject`: reject the event with a reason;
//! - `log`: write a log line through the host;
//! - `probe`: replace the event with what the module can see of the outside world
//!   (files, environment, clock), to prove it sees nothing;
//! - `bad-verdicts`: answer the batch with one verdict too few;
//! - `bad-span`: answer with a rewrite pointing outside its output;
//! - `bad-json`: rewrite the event into invalid JSON;
//! - `bad-edit`: edit a value into invalid JSON;
//! - `show`: reject the event with its own text as the reason: what the module was sent;
//! - `tag-last`: set the value of the event's last member to `"tagged"` and add a member
//!   `"seen": N`, N the number of members the module saw;
//! - `set-root`: set the whole event's value to `{}`.
//!
//! Configuration `{"refuse": "message"}` makes `configure` fail; `{"reads": [names]}`
//! makes the module declare that it reads only those top-level members (`reads`).

use firehose_sdk::json::Path;
use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule, Verdict};

/// The misbehaving rule.
pub struct Misbehave {
    act: Path,
    reads: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    refuse: Option<String>,
    #[serde(default)]
    reads: Option<Vec<String>>,
}

impl Rule for Misbehave {
    fn describe() -> ModuleInfo {
        firehose_sdk::module_info!("misbehave")
    }

    fn configure(text: &str) -> Result<Self, ConfigError> {
        let config: Config = firehose_sdk::config::parse(text)?;
        if let Some(message) = config.refuse {
            return Err(ConfigError::new("refuse", message));
        }
        Ok(Misbehave { act: Path::parse("$.act").expect("valid path"), reads: config.reads })
    }

    fn reads(&self) -> Option<Vec<String>> {
        self.reads.clone()
    }

    fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
        for event in batch.iter() {
            let act = event.get(&self.act).and_then(|v| v.as_str().map(|s| s.into_owned()));
            match act.as_deref() {
                Some("loop") => {
                    let mut x = 0u64;
                    loop {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
                Some("alloc") => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                Some("panic") => panic!("misbehave was told to panic"),
                Some("reject") => out.reject("rejected on request"),
                Some("log") => {
                    firehose_sdk::info!("hello from misbehave");
                    out.keep();
                }
                Some("probe") => {
                    let files = std::fs::read_dir("/").map(|d| d.count() as i64).unwrap_or(-1);
                    let env = std::env::vars().count();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let text = format!("{{\"files\":{files},\"env\":{env},\"clock_secs\":{now}}}");
                    out.replace(|buf| buf.extend_from_slice(text.as_bytes()));
                }
                Some("bad-verdicts") => {
                    out.clear();
                    return;
                }
                Some("bad-span") => out.verdicts.push(Verdict::Replace { start: 1 << 30, len: 5 }),
                Some("bad-json") => out.replace(|buf| buf.extend_from_slice(b"{\"unterminated\": ")),
                Some("bad-edit") => {
                    let act = event.get(&self.act).expect("act exists");
                    out.edit(|edits| edits.set_with(&act, |buf| buf.extend_from_slice(b"[1,")))
                }
                Some("show") => out.reject(String::from_utf8_lossy(event.bytes()).into_owned()),
                Some("tag-last") => {
                    let root = event.root();
                    let members: Vec<_> = root.members().collect();
                    out.edit(|edits| {
                        if let Some((_, last)) = members.last() {
                            edits.set_str(last, "tagged");
                        }
                        let seen = members.len();
                        edits.add_with(&root, "seen", |buf| buf.extend_from_slice(seen.to_string().as_bytes()));
                    })
                }
                Some("set-root") => out.edit(|edits| edits.set_with(&event.root(), |buf| buf.extend_from_slice(b"{}"))),
                _ => out.keep(),
            }
        }
    }
}

firehose_sdk::export_rule!(Misbehave);
