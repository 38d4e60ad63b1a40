//! Turning flags into API values: sinks and dead-letter sinks, Go durations, CA files and
//! passwords, with the Go plugin's messages.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;
use std::time::Duration;

use sources_api::duck::{DeliverySpec, Destination, KReference};

use crate::cli::SinkArgs;
use crate::error::Error;

/// The Go plugin's message when the sink flags are incomplete.
pub const SINK_REQUIRED: &str = "sink requires an URI\nand/or a nonempty API version --sink-api-version option,\nwith a nonempty kind --sink-kind option,\nand with a nonempty name with the --sink-name";

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// A non-empty flag value, or the Go plugin's `'<what>' requires a nonempty …` message.
pub fn nonempty<'a>(value: &'a Option<String>, message: &str) -> Result<&'a str, Error> {
    given(value).ok_or_else(|| Error::usage(message))
}

/// Whether a flag was given at all (cobra's required-flag check; an empty value counts).
pub fn is_set(value: &Option<String>) -> bool {
    value.is_some()
}

/// Checks the sink flags as the Go plugin does (URI, or all of API version, kind and name).
pub fn check_sink(sink: &SinkArgs) -> Result<(), Error> {
    let coords = [&sink.sink_api_version, &sink.sink_kind, &sink.sink_name];
    let all_empty = coords.iter().all(|c| given(c).is_none());
    let all_set = coords.iter().all(|c| given(c).is_some());
    if (given(&sink.sink_uri).is_none() && all_empty) || (!all_empty && !all_set) {
        return Err(Error::usage(SINK_REQUIRED));
    }
    Ok(())
}

/// Checks the dead-letter flags: none, a URI, or all of API version, kind and name.
pub fn check_dead_letter(sink: &SinkArgs) -> Result<(), Error> {
    let coords = [
        &sink.dead_letter_sink_api_version,
        &sink.dead_letter_sink_kind,
        &sink.dead_letter_sink_name,
    ];
    let all_empty = coords.iter().all(|c| given(c).is_none());
    let all_set = coords.iter().all(|c| given(c).is_some());
    if !all_empty && !all_set {
        return Err(Error::usage(
            "the dead-letter sink needs --dead-letter-uri, or all of --dead-letter-sink-api-version, \
             --dead-letter-sink-kind and --dead-letter-sink-name",
        ));
    }
    Ok(())
}

fn check_uri(flag: &str, uri: &str) -> Result<(), Error> {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::usage(format!(
            "failed to parse sink address: --{flag} {uri:?} is not a URI (it contains spaces or control characters)"
        )));
    }
    Ok(())
}

fn destination(
    uri: Option<&str>,
    api_version: Option<&str>,
    kind: Option<&str>,
    name: Option<&str>,
    namespace: Option<&str>,
) -> Destination {
    Destination {
        // As the Go plugin: a reference only when an API version is given, in the target namespace.
        reference: api_version.map(|v| KReference {
            api_version: v.to_owned(),
            kind: kind.unwrap_or_default().to_owned(),
            name: name.unwrap_or_default().to_owned(),
            namespace: namespace.map(str::to_owned),
            ..KReference::default()
        }),
        uri: uri.map(str::to_owned),
        ..Destination::default()
    }
}

/// The sink (`AsSinkDestination`).
pub fn sink(sink: &SinkArgs, namespace: Option<&str>) -> Result<Destination, Error> {
    if let Some(uri) = given(&sink.sink_uri) {
        check_uri("sink-uri", uri)?;
    }
    Ok(destination(
        given(&sink.sink_uri),
        given(&sink.sink_api_version),
        given(&sink.sink_kind),
        given(&sink.sink_name),
        namespace,
    ))
}

/// `spec.delivery` with the dead-letter sink, when one was given.
pub fn delivery(sink: &SinkArgs, namespace: Option<&str>) -> Result<Option<DeliverySpec>, Error> {
    let uri = given(&sink.dead_letter_uri);
    let api_version = given(&sink.dead_letter_sink_api_version);
    if uri.is_none() && api_version.is_none() {
        return Ok(None);
    }
    if let Some(uri) = uri {
        check_uri("dead-letter-uri", uri)?;
    }
    Ok(Some(DeliverySpec {
        dead_letter_sink: Some(destination(
            uri,
            api_version,
            given(&sink.dead_letter_sink_kind),
            given(&sink.dead_letter_sink_name),
            namespace,
        )),
        ..DeliverySpec::default()
    }))
}

/// A duration flag parsed as pflag does (Go's `time.ParseDuration`), with pflag's message.
pub fn go_duration(flag: &str, value: &str) -> Result<Duration, Error> {
    checkpoint::parse_go_duration(value).ok_or_else(|| {
        let why = if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
            "missing unit in duration"
        } else {
            "invalid duration"
        };
        Error::usage(format!(
            "invalid argument \"{value}\" for \"--{flag}\" flag: time: {why} \"{value}\""
        ))
    })
}

/// PEM certificates from `--ca-certs-file`.
pub fn ca_certs(flag: &str, path: &Path) -> Result<String, Error> {
    let pem = std::fs::read_to_string(path).map_err(Error::io(format!(
        "cannot read --{flag} {}",
        path.display()
    )))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::usage(format!(
            "--{flag} {} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        )));
    }
    Ok(pem)
}

/// `--event-types`: trimmed, without empty items; `None` when none (every type).
pub fn event_types(values: &[String]) -> Result<Option<Vec<String>>, Error> {
    let mut out = Vec::new();
    for v in values.iter().map(|v| v.trim()) {
        if v.is_empty() {
            continue;
        }
        if v.chars().any(char::is_whitespace) {
            return Err(Error::usage(format!(
                "--event-types: {v:?} is not an event type name (e.g. VmPoweredOnEvent)"
            )));
        }
        out.push(v.to_owned());
    }
    Ok((!out.is_empty()).then_some(out))
}

fn list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `--categories`, `--entity`, `--recursion`, `--users`, `--include-system-users`: the
/// VSphereSource's `spec.filter`, `None` when none is given.
pub fn vsphere_filter(
    categories: &[String],
    entity: Option<&str>,
    recursion: Option<&str>,
    users: &[String],
    include_system: bool,
) -> Result<Option<sources_api::filter::VSphereFilter>, Error> {
    use sources_api::filter::{
        EntityFilter, EventCategory, ObjectReference, Recursion, UserFilter, VSphereFilter,
    };
    let mut f = VSphereFilter::default();
    let mut cats = Vec::new();
    for c in list(categories) {
        cats.push(match c.to_ascii_lowercase().as_str() {
            "info" => EventCategory::Info,
            "warning" => EventCategory::Warning,
            "error" => EventCategory::Error,
            "user" => EventCategory::User,
            _ => {
                return Err(Error::usage(format!(
                    "--categories: {c:?} is not a category (info, warning, error or user)"
                )));
            }
        });
    }
    f.categories = (!cats.is_empty()).then_some(cats);
    if let Some(e) = entity.map(str::trim).filter(|e| !e.is_empty()) {
        let mut ef = EntityFilter::default();
        if e.starts_with('/') {
            ef.path = Some(e.to_owned());
        } else {
            let (t, v) = e.split_once(':').ok_or_else(|| {
                Error::usage(format!(
                    "--entity: {e:?} is neither an inventory path (/Datacenter/vm/Folder) nor \
                     Type:value (Folder:group-v3)"
                ))
            })?;
            ef.reference = Some(ObjectReference {
                type_: t.to_owned(),
                value: v.to_owned(),
            });
        }
        ef.recursion = match recursion.map(|r| r.trim().to_ascii_lowercase()) {
            None => None,
            Some(r) if r == "self" => Some(Recursion::Itself),
            Some(r) if r == "children" => Some(Recursion::Children),
            Some(r) if r == "all" => Some(Recursion::All),
            Some(r) => {
                return Err(Error::usage(format!(
                    "--recursion: {r:?} is not self, children or all"
                )));
            }
        };
        f.entity = Some(ef);
    }
    let names = list(users);
    if !names.is_empty() || include_system {
        f.users = Some(UserFilter {
            names: (!names.is_empty()).then_some(names),
            include_system,
        });
    }
    Ok((f != VSphereFilter::default()).then_some(f))
}

/// `--event-types`, `--modules`, `--severities`: the HorizonSource's `spec.filter`, `None` when
/// none is given.
pub fn horizon_filter(
    event_types: &[String],
    modules: &[String],
    severities: &[String],
) -> Result<Option<sources_api::filter::HorizonFilter>, Error> {
    use sources_api::filter::HORIZON_SEVERITIES as SEVERITIES;
    let severities: Vec<String> = list(severities)
        .into_iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    if let Some(bad) = severities
        .iter()
        .find(|s| !SEVERITIES.contains(&s.as_str()))
    {
        return Err(Error::usage(format!(
            "--severities: {bad:?} is not one of {}",
            SEVERITIES.join(", ")
        )));
    }
    let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let f = sources_api::filter::HorizonFilter {
        event_types: some(list(event_types)),
        modules: some(list(modules)),
        severities: some(severities),
    };
    Ok((f != sources_api::filter::HorizonFilter::default()).then_some(f))
}

/// The Go plugin's checks of `--password` and `--password-stdin`: exactly one of them. The
/// vSphere message names the stdin flag `--password-std-in`, as the Go plugin's does.
pub fn check_password<'a>(
    password: &'a Option<String>,
    stdin: bool,
    stdin_flag: &str,
) -> Result<Option<&'a str>, Error> {
    let explicit = given(password);
    if explicit.is_none() && !stdin {
        return Err(Error::usage(format!(
            "'password' requires a nonempty password provided with the --password option or prompted later via the {stdin_flag} option"
        )));
    }
    if explicit.is_some() && stdin {
        return Err(Error::usage(
            "either set an explicit password with the --password option or set the --password-stdin option to get prompted for one, do not set both",
        ));
    }
    Ok(explicit)
}

/// The password of `auth create`: `--password`, or standard input with `--password-stdin`
/// (a prompt without echo on a terminal; otherwise everything read, less one trailing newline).
pub fn read_password(password: Option<&str>, stdin: bool) -> Result<String, Error> {
    if !stdin {
        return Ok(password.unwrap_or_default().to_owned());
    }
    let context = "failed to get password";
    if std::io::stdin().is_terminal() {
        println!("Password:");
        let password = rpassword::read_password().map_err(Error::io(context))?;
        println!();
        return Ok(password);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(Error::io(context))?;
    if let Some(t) = text.strip_suffix('\n') {
        text.truncate(t.strip_suffix('\r').unwrap_or(t).len());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pflag_duration_messages() {
        assert_eq!(
            go_duration("checkpoint-age", "1h").expect("1h"),
            Duration::from_secs(3600)
        );
        assert_eq!(
            go_duration("checkpoint-age", "10")
                .expect_err("no unit")
                .to_string(),
            "invalid argument \"10\" for \"--checkpoint-age\" flag: time: missing unit in duration \"10\""
        );
        assert_eq!(
            go_duration("checkpoint-period", "soon")
                .expect_err("words")
                .to_string(),
            "invalid argument \"soon\" for \"--checkpoint-period\" flag: time: invalid duration \"soon\""
        );
    }

    #[test]
    fn sinks_as_the_go_plugin_builds_them() {
        let args = SinkArgs {
            sink_uri: Some("/path".into()),
            sink_api_version: Some("v1".into()),
            sink_kind: Some("Service".into()),
            sink_name: Some("svc".into()),
            ..SinkArgs::default()
        };
        check_sink(&args).expect("complete");
        let d = sink(&args, Some("ns")).expect("sink");
        let r = d.reference.expect("ref");
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str(), r.name.as_str()),
            ("v1", "Service", "svc")
        );
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(d.uri.as_deref(), Some("/path"));
        let partial = SinkArgs {
            sink_kind: Some("Service".into()),
            sink_uri: Some("http://x".into()),
            ..SinkArgs::default()
        };
        assert_eq!(
            check_sink(&partial).expect_err("partial").to_string(),
            SINK_REQUIRED
        );
        assert!(check_sink(&SinkArgs::default()).is_err());
        let dls = SinkArgs {
            dead_letter_sink_kind: Some("Service".into()),
            ..SinkArgs::default()
        };
        assert!(check_dead_letter(&dls).is_err());
        assert!(
            delivery(&SinkArgs::default(), None)
                .expect("none")
                .is_none()
        );
    }
}
