//! Print the CloudEvent payloads of a captured SOAP `ReadNextEvents` response, one JSON line per
//! event: `{"id":…,"type":…,"datacontenttype":…,"data":"<the payload as a string>"}`.
//!
//! ```text
//! cargo run -p cloudevent-encode --example encode-file -- --encoding application/json PAGE.xml
//! cargo run -p cloudevent-encode --example encode-file -- --encoding application/xml PAGE.xml
//! ```
//!
//! Useful to debug a consumer and to check goldens by hand (`jq -r .data`).

use std::io::Write as _;
use std::process::ExitCode;

use cloudevent_encode::{EventEncoder, PayloadEncoding};

const USAGE: &str =
    "usage: encode-file [--encoding application/xml|text/xml|application/json|text/json] FILE.xml";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encode-file: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut encoding = PayloadEncoding::ApplicationXml;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--encoding" => {
                let v = args.next().ok_or(USAGE)?;
                encoding = PayloadEncoding::parse(&v).map_err(|e| e.to_string())?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other if file.is_none() && !other.starts_with("--") => file = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let page = std::fs::read(&file).map_err(|e| format!("reading {file}: {e}"))?;
    let events = vsphere_client::decode::decode_events(&page)
        .map_err(|e| format!("decoding {file}: {e}"))?;
    let encoder = EventEncoder::new("", "", encoding);
    let mut out = Vec::with_capacity(1 << 16);
    let mut payload = Vec::with_capacity(1 << 14);
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for event in &events {
        out.clear();
        payload.clear();
        cloudevent_encode::encode_line(&encoder, event, &mut payload, &mut out);
        stdout
            .write_all(&out)
            .map_err(|e| format!("writing: {e}"))?;
    }
    Ok(())
}
