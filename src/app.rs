//! The binary's entry: parses the command line, dispatches, prints, and
//! turns every error into its exit code (DESIGN.md §8). The one place that
//! writes errors to stderr.

use std::io::Write;

use clap::Parser;

use crate::cli::{
    Cli, Command, InputsTemplateArgs, ListArgs, NewArgs, RenderArgs, RenderFormat, ReportFormat,
    SchemaArgs,
};
use crate::contract::{self, ProcessEnv};
use crate::diag::Format;
use crate::error::{Error, code};
use crate::run;

/// The process's entry: prepares it, runs the command line and returns the
/// exit code. A panic, which would be a bug, ends in the code of an
/// internal error after its message, not in an abort.
pub fn entry() -> i32 {
    crate::startup::prepare();
    std::panic::catch_unwind(main).unwrap_or(code::SOFTWARE)
}

/// Runs the command line and returns the process exit code.
fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { code::USAGE } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Run(args) => {
            return match args.try_into() {
                Ok(request) => run_command(request),
                Err(message) => report(&Error::Usage(message)),
            };
        }
        Command::Validate(args) => {
            let inputs = match args
                .inputs
                .as_deref()
                .map(|a| contract::read_document(a, "--inputs"))
                .transpose()
            {
                Ok(doc) => doc,
                Err(err) => return report(&err),
            };
            let outcome = crate::validate::validate(&crate::validate::Request {
                specs: args.specs,
                inputs,
                check_binaries: args.check_binaries,
                format: match args.format {
                    ReportFormat::Text => Format::Text,
                    ReportFormat::Json => Format::Json,
                    ReportFormat::Github => Format::Github,
                },
            });
            print(&outcome.stdout);
            return outcome.code;
        }
        Command::Render(args) => render(args),
        Command::Schema(args) => schema(args),
        Command::InputsTemplate(args) => inputs_template(args),
        Command::New(args) => new_spec(args),
        Command::List(args) => return list(args),
        Command::Verify(args) => return verify(args),
        Command::Export(crate::cli::ExportCommand::Snakemake(args)) => export_snakemake(args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut out = std::io::stdout().lock();
            clap_complete::generate(args.shell, &mut Cli::command(), "omni-launch", &mut out);
            return 0;
        }
    };
    match result {
        Ok(()) => 0,
        Err(err) => report(&err),
    }
}

/// A line for the launcher's stderr. A closed or broken stderr is not a
/// reason to fail, let alone panic as `eprintln!` would: the line is lost.
fn say(line: &str) {
    let line = crate::redact::message(line);
    let mut err = std::io::stderr().lock();
    if std::env::var("OMNI_LOG_FORMAT").is_ok_and(|f| f == "json") {
        let (level, message) = match line.strip_prefix("error: ") {
            Some(message) => ("error", message),
            None => ("info", line.as_str()),
        };
        let doc = serde_json::json!({
            "time": crate::results::timestamp(chrono::Utc::now()),
            "level": level,
            "source": "omni-launch",
            "run_id": RUN_ID.get(),
            "message": message,
        });
        let _ = writeln!(err, "{doc}");
    } else {
        let _ = writeln!(err, "omni-launch: {line}");
    }
}

/// The run this process's messages are about, once known.
static RUN_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes an error to stderr and returns its exit code.
fn report(err: &Error) -> i32 {
    say(&format!("error: {}", err.message()));
    err.exit_code()
}

fn run_command(req: contract::RunRequest) -> i32 {
    let output = run::run(req, &ProcessEnv);
    if let Some(doc) = &output.done_before {
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(doc).unwrap_or_default()
        ));
        if let Some(id) = doc["run_id"].as_str() {
            let _ = RUN_ID.set(id.to_string());
        }
    }
    if let Some(results) = &output.results {
        print(&results.to_json());
        let _ = RUN_ID.set(results.run_id.clone());
    }
    for note in &output.notes {
        say(note);
    }
    match &output.error {
        Some(err) => report(err),
        None => 0,
    }
}

/// A dry run through the same stages as a run, up to the command.
fn render(args: RenderArgs) -> Result<(), Error> {
    let spec = spec_arg(&args.spec)?;
    let cwd = std::env::current_dir()
        .map_err(|err| Error::io("cannot read the current directory", err))?;
    let inputs = fetched(contract::read_document(&args.inputs, "--inputs")?)?;
    let secrets = crate::inputs::secrets(&spec, &inputs);
    crate::redact::mask_messages(&secrets);
    let resources = fetched(contract::read_document(&args.resources, "--resources")?)?;
    let (values, resources) = crate::inputs::check(&spec, &inputs, &resources, &cwd)?;
    let workdir = args
        .workdir
        .unwrap_or_else(|| crate::workdir::planned(None, &args.run_id));
    let inputs = crate::runtime::plan(&spec, &values, &workdir)?;
    let plan = crate::render::render(&spec, &inputs, &resources, &args.run_id, &workdir)?;
    let command = plan.command.display();
    let (argv, env) = (plan.command.argv(), plan.env.clone());
    let task = crate::exec::Task::new(&spec, plan, &inputs, &resources, &workdir, &args.run_id);
    let settings = crate::exec::settings(&spec.requirements, &args.container.options());
    let engine = crate::exec::engine_command(args.runner.kind(), &settings, &task);
    match args.format {
        RenderFormat::Text => match &engine {
            Some(engine) => print(&secrets.text(&format!(
                "{}\n",
                engine
                    .iter()
                    .map(|a| crate::template::shell_word(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
            None => print(&secrets.text(&format!("{command}\n"))),
        },
        RenderFormat::Json => {
            let mut doc = serde_json::json!({
                "command": command,
                "argv": argv,
                "env": env.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect::<serde_json::Map<_, _>>(),
                "inputs": inputs,
                "workdir": workdir.display().to_string(),
                "engine_argv": engine,
            });
            secrets.json(&mut doc);
            print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// `verify`: prints the report; 0 only when everything matches.
fn verify(args: crate::cli::VerifyArgs) -> i32 {
    let checked = (|| {
        let key = match &args.key {
            Some(path) => {
                let text =
                    crate::files::read_regular(path, crate::files::MAX_SPEC).map_err(|err| {
                        Error::Usage(format!("cannot read the key {}: {err}", path.display()))
                    })?;
                Some(
                    crate::sign::PublicKey::from_pem(&String::from_utf8_lossy(&text)).map_err(
                        |why| Error::Usage(format!("the key {}: {why}", path.display())),
                    )?,
                )
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| Error::io("cannot start the runtime", err))?;
        runtime.block_on(crate::verify::verify(&args.uri, key.as_ref()))
    })();
    match checked {
        Ok(report) => {
            print(&report.text());
            if report.passed() {
                0
            } else {
                crate::verify::MISMATCH
            }
        }
        Err(err) => report(&err),
    }
}

/// A document as given, read from its store when given by URI.
fn fetched(doc: contract::Document) -> Result<contract::Document, Error> {
    if doc.remote.is_none() {
        return Ok(doc);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::io("cannot start the runtime", err))?;
    Ok(runtime.block_on(doc.fetch())?.into_owned())
}

/// A spec named on the command line: a file when one is there, else a tool
/// id looked up as a run would.
fn spec_arg(arg: &str) -> Result<crate::spec::Spec, Error> {
    crate::spec::load_for_run(&spec_ref(arg)?)
}

fn spec_ref(arg: &str) -> Result<contract::SpecRef, Error> {
    let path = std::path::Path::new(arg);
    Ok(if path.exists() || !contract::valid_tool_id(arg) {
        contract::SpecRef::File(path.to_path_buf())
    } else {
        contract::SpecRef::Tool {
            dir: contract::specs_dir(None, &ProcessEnv)?,
            id: arg.to_string(),
        }
    })
}

/// `export snakemake`: the rules on stdout.
fn export_snakemake(args: crate::cli::ExportSnakemakeArgs) -> Result<(), Error> {
    use crate::export::{Reference, Tool};
    use crate::spec::builtin::{Found, find};
    let mut tools = Vec::new();
    for arg in &args.specs {
        let spec_ref = spec_ref(arg)?;
        let reference = match find(&spec_ref) {
            Some(Found::File(path)) => Reference::File(
                path.to_str()
                    .ok_or_else(|| {
                        Error::Usage(format!("{}: a spec path must be UTF-8", path.display()))
                    })?
                    .to_string(),
            ),
            Some(Found::Builtin(id, _)) => Reference::Builtin(id.to_string()),
            None => Reference::Builtin(arg.clone()),
        };
        let spec = crate::spec::load_for_run(&spec_ref)?;
        tools.push(Tool { spec, reference });
    }
    let line = std::iter::once("omni-launch export snakemake".to_string())
        .chain(args.specs.iter().map(|s| crate::template::shell_word(s)))
        .collect::<Vec<_>>()
        .join(" ");
    print(&crate::export::snakemake::rules(&tools, &line)?);
    Ok(())
}

fn new_spec(args: NewArgs) -> Result<(), Error> {
    if !contract::valid_tool_id(&args.id) {
        return Err(Error::Usage(format!(
            "invalid id \"{}\": use only lowercase letters, digits, `_` and `-`",
            args.id
        )));
    }
    let help = match &args.from_help {
        Some(program) => Some(crate::scaffold::help_of(program).ok_or_else(|| {
            Error::Usage(format!(
                "cannot read options from `{program} --help` (nor -h, nor a bare call)"
            ))
        })?),
        None => None,
    };
    let text = crate::scaffold::starter(&args.id, args.from_help.as_deref().zip(help.as_deref()));
    let path = args
        .output
        .unwrap_or_else(|| std::path::Path::new("tool-specs").join(format!("{}.yaml", args.id)));
    if path.as_os_str() == "-" {
        print(&text);
        return Ok(());
    }
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} exists; pass --output to write elsewhere",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| Error::io(format!("cannot create {}", dir.display()), err))?;
    }
    std::fs::write(&path, text)
        .map_err(|err| Error::io(format!("cannot write {}", path.display()), err))?;
    say(&format!(
        "wrote {p}; check it with `omni-launch validate {p}`",
        p = path.display()
    ));
    Ok(())
}

fn inputs_template(args: InputsTemplateArgs) -> Result<(), Error> {
    let spec = spec_arg(&args.spec)?;
    let template = crate::schema::inputs_template(&spec);
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(&template).unwrap_or_default()
    ));
    Ok(())
}

fn schema(args: SchemaArgs) -> Result<(), Error> {
    let Some(arg) = args.spec.filter(|_| !args.spec_format) else {
        print(&crate::spec::format_schema::generate());
        return Ok(());
    };
    let spec = spec_arg(&arg)?;
    let schema = crate::schema::inputs_schema(&spec);
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    ));
    Ok(())
}

fn list(args: ListArgs) -> i32 {
    let explicit = args.specs_dir.is_some() || std::env::var_os("OMNI_TOOL_SPECS").is_some();
    let dir = match contract::specs_dir(args.specs_dir, &ProcessEnv) {
        Ok(dir) => dir,
        Err(err) => return report(&err),
    };
    let outcome = crate::list::list(&dir, explicit);
    for warning in &outcome.warnings {
        say(&format!("warning: {warning}"));
    }
    print(&outcome.stdout);
    outcome.code
}
