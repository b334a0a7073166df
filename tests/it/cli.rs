//! The command line as a user meets it: how flags parse (typed values,
//! refusals that name the flag, defaults), what the help says (each
//! command its own exit codes, every action, outcome and variable the
//! code has), and that secrets never show.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use cosinv::cmd::args::*;
use cosinv::cmd::help::*;
use cosinv::report::{Action, HEADER, Outcome};
use secrecy::ExposeSecret;

#[test]
fn parsed_secrets_never_show_in_debug() {
    let cli = Cli::try_parse_from([
        "cosinv",
        "emulate",
        "--secret-id",
        "AKIDx",
        "--secret-key",
        "hunter2",
        "--security-token",
        "tok-secret",
    ])
    .unwrap();
    let shown = format!("{cli:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("tok-secret"),
        "{shown}"
    );
    let Command::Emulate(args) = cli.command else {
        panic!("parsed {shown}");
    };
    assert_eq!(args.secret_key.unwrap().expose_secret(), "hunter2");
}

#[test]
fn help_lists_every_subcommand() {
    let command = Cli::command();
    let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
    assert_eq!(
        names,
        [
            "validate",
            "plan",
            "buckets",
            "apply",
            "show",
            "run-now",
            "deliveries",
            "emulate",
            "completions",
            "man"
        ]
    );
    let help = Cli::command().render_help().to_string();
    for name in names {
        let listed = help
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{name} ")));
        assert!(listed, "{name} is not in the list of commands:\n{help}");
    }
}

#[test]
fn bad_values_are_refused_with_the_flag_name() {
    let cases: [&[&str]; 7] = [
        &["--concurrency", "0"],
        &["--bucket-concurrency", "0"],
        &["--max-attempts", "0"],
        &["--rate", "0"],
        &["--bucket-rate=-1"],
        &["--request-timeout", "NaN"],
        &["--shard", "8/8"],
    ];
    for flags in cases {
        let mut line = vec!["cosinv", "apply", "m.yaml"];
        line.extend_from_slice(flags);
        let err = Cli::try_parse_from(&line).unwrap_err().to_string();
        let flag = flags[0].split('=').next().unwrap();
        assert!(err.contains(flag), "{flags:?}: {err}");
    }
}

#[test]
fn refresh_is_the_default_and_the_last_flag_wins() {
    let refreshes = |flags: &[&str]| {
        let mut line = vec!["cosinv", "plan", "m.yaml"];
        line.extend_from_slice(flags);
        let Command::Plan(args) = Cli::try_parse_from(&line).unwrap().command else {
            panic!("not plan");
        };
        args.reconcile.refreshes()
    };
    assert!(refreshes(&[]));
    assert!(refreshes(&["--refresh"]));
    assert!(!refreshes(&["--no-refresh"]));
    assert!(refreshes(&["--no-refresh", "--refresh"]));
    assert!(!refreshes(&["--refresh", "--no-refresh"]));
    let prefix_alone = Cli::try_parse_from(["cosinv", "apply", "m.yaml", "--prune-prefix", "x"]);
    assert!(prefix_alone.unwrap_err().to_string().contains("--prune"));
}

#[test]
fn an_unset_endpoint_variable_is_not_shown_as_empty() {
    let help = Cli::command()
        .find_subcommand_mut("apply")
        .unwrap()
        .render_long_help()
        .to_string();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!help.contains("COS_ENDPOINT="), "{help}");
    assert!(help.contains("[env: COS_ENDPOINT]"), "{help}");
}

#[test]
fn every_subcommand_has_examples() {
    let mut command = Cli::command();
    command.build();
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let help = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(
            help.contains("Examples:"),
            "{} has no examples",
            sub.get_name()
        );
    }
}

#[test]
fn resolve_rules_and_output_formats_arrive_typed() {
    let cli = Cli::try_parse_from([
        "cosinv",
        "apply",
        "m.yaml",
        "--resolve",
        "*.myqcloud.com=127.0.0.1:9443",
        "--output",
        "json",
        "--log-format",
        "json",
    ])
    .unwrap();
    let Command::Apply(args) = cli.command else {
        panic!("not apply");
    };
    assert_eq!(args.run.connect.resolve.len(), 1);
    assert_eq!(args.run.output, OutputFormat::Json);
    assert_eq!(args.run.log_format, LogFormat::Json);
    let err = Cli::try_parse_from(["cosinv", "apply", "m.yaml", "--resolve", "x"]).unwrap_err();
    assert!(err.to_string().contains("--resolve"), "{err}");
    let err = Cli::try_parse_from(["cosinv", "apply", "m.yaml", "--sandbox", "--ca-bundle", "c"])
        .unwrap_err();
    assert!(err.to_string().contains("--ca-bundle"), "{err}");
}

#[test]
fn good_values_arrive_typed() {
    let cli = Cli::try_parse_from([
        "cosinv",
        "apply",
        "m.yaml",
        "--concurrency",
        "8",
        "--rate",
        "2.5",
        "--request-timeout",
        "0.5",
        "--shard",
        " 3 / 8 ",
    ])
    .unwrap();
    let Command::Apply(args) = cli.command else {
        panic!("not apply");
    };
    assert_eq!(args.run.connect.concurrency.get(), 8);
    assert_eq!(args.run.connect.rate.unwrap().get(), 2.5);
    assert_eq!(args.run.connect.request_timeout, Duration::from_millis(500));
    assert!(args.reconcile.refreshes());
    assert_eq!(args.run.select.shard.unwrap().to_string(), "3/8");
}

/// The codes a command's help lists, read back from its text.
fn listed_codes(text: &str) -> Vec<u8> {
    text.lines()
        .skip_while(|line| *line != "Exit codes:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .flat_map(|line| {
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .split('/')
        })
        .map(|code| code.parse().expect("a code"))
        .collect()
}

#[test]
fn each_command_lists_its_own_exit_codes() {
    use cosinv::cmd::exit::*;
    let cases: [(String, &[u8]); 8] = [
        (
            run_now_after_help(),
            &[
                SUCCESS,
                JOBS_FAILED,
                USAGE,
                STOPPED,
                REPORT_FAILED,
                INTERRUPTED,
                TERMINATED,
            ],
        ),
        (validate_after_help(), &[SUCCESS, USAGE]),
        (plan_after_help(), &[SUCCESS, JOBS_FAILED, USAGE]),
        (buckets_after_help(), &[SUCCESS, JOBS_FAILED, USAGE]),
        (
            apply_after_long_help(),
            &[
                SUCCESS,
                JOBS_FAILED,
                USAGE,
                STOPPED,
                REPORT_FAILED,
                INTERRUPTED,
                TERMINATED,
            ],
        ),
        (emulate_after_help(), &[SUCCESS, USAGE]),
        (completions_after_help(), &[SUCCESS, USAGE]),
        (man_after_help(), &[SUCCESS, USAGE]),
    ];
    for (text, codes) in cases {
        assert_eq!(listed_codes(&text), codes, "{text}");
    }
    assert_eq!(
        listed_codes(&apply_after_help()),
        listed_codes(&apply_after_long_help())
    );
}

#[test]
fn every_report_column_action_and_outcome_is_described() {
    let text = report_columns();
    for column in HEADER {
        assert!(text.contains(column), "{column} is not in the help");
    }
    let values = |from: &str, to: &str| -> Vec<String> {
        let start = text.find(from).expect("the column");
        let end = text.find(to).expect("the next column");
        text[start..end]
            .lines()
            .skip(1)
            .map(|line| {
                line.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(values("  action ", "  outcome "), actions);
    assert_eq!(values("  outcome ", "  http_status "), outcomes);
}

#[test]
fn the_environment_names_the_library_s_variables() {
    use cosinv::credentials as c;
    for var in c::SECRET_ID_VARS
        .iter()
        .chain(&c::SECRET_KEY_VARS)
        .chain(&c::TOKEN_VARS)
        .chain(&[
            c::CREDENTIALS_FILE_VAR,
            c::METADATA_ENDPOINT_VAR,
            c::STS_ENDPOINT_VAR,
        ])
        .chain(&cosinv::http::proxy::HTTPS_PROXY_VARS[..1])
        .chain(&cosinv::http::proxy::HTTP_PROXY_VARS[..1])
        .chain(&cosinv::http::proxy::NO_PROXY_VARS[..1])
        .chain(&[
            cosinv::cmd::lock::LOCK_DIR_VAR,
            cosinv::cmd::connect::ENDPOINT_VAR,
        ])
    {
        assert!(
            main_after_long_help().contains(var),
            "{var} is not in the help"
        );
    }
}
