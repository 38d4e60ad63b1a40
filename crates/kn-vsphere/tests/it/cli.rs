//! Flags, help, version and completion; the message when the CRDs are missing.

use crate::harness::*;

#[test]
fn flag_errors_are_the_go_plugins() {
    let cases: &[(&[&str], &str)] = &[
        // auth create
        (
            &["auth", "create"],
            "required flag(s) \"name\", \"username\" not set",
        ),
        (
            &["auth", "create", "--username", "", "--name", "n", "-p", "x"],
            "'username' requires a nonempty username provided with the --username option",
        ),
        (
            &["auth", "create", "--username", "u", "--name", "n"],
            "'password' requires a nonempty password provided with the --password option or prompted later via the --password-std-in option",
        ),
        (
            &["auth", "create", "-u", "u", "--name", "n", "-p", "x", "-i"],
            "either set an explicit password with the --password option or set the --password-stdin option to get prompted for one, do not set both",
        ),
        (
            &["auth", "create", "-u", "u", "--name", "", "-p", "x"],
            "'name' requires a nonempty secret name provided with the --name option",
        ),
        (&["auth", "delete"], "required flag(s) \"name\" not set"),
        (
            &["auth", "delete", "--name", ""],
            "'name' requires a nonempty secret name provided with the --name option",
        ),
        // source create
        (
            &["source", "create"],
            "required flag(s) \"name\", \"secret-ref\", \"vc-address\" not set",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "",
                "-a",
                "https://vc",
                "-s",
                "c",
                "-u",
                "http://x",
            ],
            "'name' requires a nonempty name provided with the --name option",
        ),
        (
            &[
                "source", "create", "--name", "s", "-a", "", "-s", "c", "-u", "http://x",
            ],
            "'address' requires a nonempty address provided with the --vc-address option",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "",
                "-u",
                "http://x",
            ],
            "'secret-ref' requires a nonempty secret reference provided with the --secret-ref option",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "c",
            ],
            "sink requires an URI\nand/or a nonempty API version --sink-api-version option,\nwith a nonempty kind --sink-kind option,\nand with a nonempty name with the --sink-name",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "c",
                "-u",
                "http://x",
                "--sink-kind",
                "Service",
            ],
            "sink requires an URI\nand/or a nonempty API version --sink-api-version option,\nwith a nonempty kind --sink-kind option,\nand with a nonempty name with the --sink-name",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "c",
                "-u",
                "http://x",
                "--encoding",
                "yaml",
            ],
            "invalid encoding scheme \"yaml\"",
        ),
        (
            &["source", "create", "--checkpoint-age", "10"],
            "invalid argument \"10\" for \"--checkpoint-age\" flag: time: missing unit in duration \"10\"",
        ),
        (
            &["source", "delete", "--name", ""],
            "'name' requires a nonempty name provided with the --name option",
        ),
        (
            &["source", "list", "-n", "x", "-A"],
            "'--namespace' and '--all-namespaces' options are mutually exclusive",
        ),
        // binding create
        (
            &["binding", "create"],
            "required flag(s) \"name\", \"secret-ref\", \"subject-api-version\", \"subject-kind\", \"vc-address\" not set",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "",
                "--subject-kind",
                "Job",
                "--subject-name",
                "j",
            ],
            "'subject-api-version' requires a nonempty subject API version provided with the --subject-api-version option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "",
                "--subject-name",
                "j",
            ],
            "'subject-kind' requires a nonempty subject kind provided with the --subject-kind option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
            ],
            "subject requires a nonempty subject name provided with the --subject-name option,\nor a nonempty subject selector with the --subject-selector option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
                "--subject-name",
                "j",
                "--subject-selector",
                "a=b",
            ],
            "subject can optionally be configured with one of the following flags (but several were set):\n\t--subject-name, --subject-selector",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
                "--subject-selector",
                "a b",
            ],
            "failed to parse subject selector: invalid label key \"a b\"",
        ),
        (
            &["binding", "list", "--namespace", "x", "--all-namespaces"],
            "'--namespace' and '--all-namespaces' options are mutually exclusive",
        ),
        // This project's flags.
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "c",
                "-u",
                "http://x",
                "--dead-letter-sink-kind",
                "Service",
            ],
            "the dead-letter sink needs --dead-letter-uri, or all of --dead-letter-sink-api-version, --dead-letter-sink-kind and --dead-letter-sink-name",
        ),
        (
            &["horizon", "source", "create"],
            "required flag(s) \"address\", \"name\", \"secret-ref\" not set",
        ),
        (
            &[
                "horizon", "auth", "create", "--name", "h", "-u", "u", "-p", "p",
            ],
            "required flag(s) \"domain\" not set",
        ),
    ];
    for (args, message) in cases {
        let run = offline(args);
        assert_eq!(run.error(), *message, "kn-vsphere {}", args.join(" "));
    }
    // No kubeconfig: the Go plugin's message.
    assert_eq!(
        offline(&["source", "list"]).error(),
        "config file '/nonexistent/kubeconfig' can not be found"
    );
    // Unknown flags and values are refused by the parser, with exit code 1.
    let run = offline(&["source", "list", "-o", "wide"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("invalid value 'wide'"), "{run:#?}");
}

#[test]
fn help_version_and_completion() {
    let help = offline(&["--help"]);
    assert!(help.ok().contains("Knative plugin to create Knative compatible Event Sources for VMware vSphere events,\nand Bindings to access the vSphere API"));
    for group in [
        "auth",
        "source",
        "binding",
        "horizon",
        "version",
        "completion",
    ] {
        assert!(help.stdout.contains(group), "{group} in {help:#?}");
    }
    // A group without a command prints its help and succeeds, as cobra does.
    let run = offline(&["source"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("describe"), "{run:#?}");
    let version = offline(&["version"]);
    let lines: Vec<&str> = version.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{version:#?}");
    assert_eq!(
        lines[0],
        concat!("Version:      v", env!("CARGO_PKG_VERSION"))
    );
    assert!(lines[1].starts_with("Build Date:   "), "{version:#?}");
    assert!(lines[2].starts_with("Git Revision: "), "{version:#?}");
    let bash = offline(&["completion", "bash"]);
    assert!(bash.ok().contains("complete -F _kn__vsphere"), "{bash:#?}");
    assert!(
        offline(&["completion", "zsh"])
            .ok()
            .starts_with("#compdef kn-vsphere")
    );
    assert!(
        offline(&["completion", "fish"])
            .ok()
            .contains("complete -c kn-vsphere")
    );
}

#[test]
fn a_missing_crd_says_vmware_sources_is_not_installed() {
    let (list, create) = &env().before_crds;
    let expected = "vmware-sources is not installed in this cluster: the API server does not serve vspheresources.sources.tanzu.vmware.com (install a vmware-sources release with kubectl apply -f release.yaml)";
    assert_eq!(list.error(), expected);
    assert_eq!(create.error(), expected);
}
