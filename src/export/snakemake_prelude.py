import json as _omni_json
import math as _omni_math
import os as _omni_os
import shlex as _omni_shlex
import signal as _omni_signal
import subprocess as _omni_subprocess
import tempfile as _omni_tempfile
import urllib.parse as _omni_url

from snakemake.exceptions import WorkflowError as _OmniError
from snakemake.io import is_flagged

try:
    OMNI_JOBS
except NameError:
    OMNI_JOBS = {}

_omni_settings = config.get("omni_launch", {})
OMNI_LAUNCH = _omni_settings.get("binary", "omni-launch")
OMNI_RESULTS = _omni_settings.get("results", "results")


def omni_out(tool, path):
    """A path in a job's result directory: <results>/<tool>/{job}/<path>."""
    return f"{OMNI_RESULTS}/{tool}/{{job}}/{path}"


def omni_job(tool, wildcards):
    """The inputs of one job: OMNI_JOBS[tool][job]."""
    jobs = OMNI_JOBS.get(tool)
    if jobs is None:
        raise _OmniError(
            f"no jobs for the tool {tool}: set OMNI_JOBS[{tool!r}] = {{job name: inputs}}"
        )
    job = jobs.get(wildcards.job)
    if job is None:
        known = ", ".join(sorted(map(str, jobs))[:10])
        raise _OmniError(f"{tool} has no job {wildcards.job!r} (its jobs: {known})")
    return job


def _omni_remote(value):
    """Whether a File or Directory value names anything omni-launch stages
    itself (an s3://, azureblob:// or https:// location)."""
    if isinstance(value, list):
        return any(_omni_remote(v) for v in value)
    if isinstance(value, dict):
        value = value.get("path") or value.get("location") or ""
    return isinstance(value, str) and "://" in value and not value.startswith("file://")


def _omni_paths(value):
    """The local paths of a File or Directory value: a path, a CWL object,
    or a list of them."""
    if isinstance(value, list):
        return [p for v in value for p in _omni_paths(v)]
    if isinstance(value, dict):
        value = value.get("path") or value.get("location")
    if not isinstance(value, str) or _omni_remote(value):
        return []
    if value.startswith("file://"):
        return [_omni_url.unquote(value[len("file://"):])]
    return [value]


def omni_file(tool, name, many=False):
    """Input function: the local paths of a File or Directory input, which
    Snakemake then makes before the job (remote ones omni-launch stages)."""

    def paths(wildcards):
        found = _omni_paths(omni_job(tool, wildcards).get(name))
        return found if many or len(found) != 1 else found[0]

    return paths


def omni_container(tool, image):
    """The image a job runs in with --software-deployment-method apptainer:
    config["omni_launch"]["containers"][tool], else the spec's (which must
    then hold omni-launch: see examples/Dockerfile.blast)."""
    return _omni_settings.get("containers", {}).get(tool, image)


def omni_param(tool, name):
    """Params function: an input's value; None leaves it to the spec's default."""
    return lambda wildcards: omni_job(tool, wildcards).get(name)


class OmniRun:
    """One job: writes its inputs document, builds the `omni-launch run`
    command, and explains a failure from the job's results.json."""

    def __init__(self, tool, wildcards, output, results):
        self.tool = tool
        self.name = wildcards.job
        self.job = omni_job(tool, wildcards)
        self.output = output
        self.results = str(results)
        self.document = None

    def command(self, spec, files, values, resources, secret=False):
        """The command: `omni-launch run` with the inputs document made from
        the rule's input (files) and params (values). Secret inputs come
        from OMNI_JOBS only, never through params, which Snakemake records;
        with them, the document is a private temporary file."""
        inputs = {k: v for k, v in self.job.items() if k not in files and k not in values}
        for name, given in files.items():
            raw = self.job.get(name)
            if raw is None or (not _omni_remote(raw) and not isinstance(raw, dict)):
                raw = str(given) if isinstance(given, str) else [str(p) for p in given]
                if raw == []:
                    continue
            inputs[name] = raw
        for name, value in values.items():
            if value is not None:
                inputs[name] = value
        prefix = _omni_os.path.abspath(_omni_os.path.dirname(self.results))
        if secret:
            # Private, and gone after the run; results.json masks them.
            descriptor, self.document = _omni_tempfile.mkstemp(
                prefix=f"omni-inputs-{self.tool}-", suffix=".json"
            )
            document = self.document
        else:
            # Beside results.json: the job again is
            # `omni-launch run --spec … --inputs @…/inputs.json`.
            document = _omni_os.path.join(prefix, "inputs.json")
            descriptor = _omni_os.open(document, _omni_os.O_WRONLY | _omni_os.O_CREAT | _omni_os.O_TRUNC, 0o644)
        with _omni_os.fdopen(descriptor, "w") as out:
            _omni_json.dump(inputs, out, indent=2)
            out.write("\n")
        argv = [OMNI_LAUNCH, "run", *spec, "--inputs", "@" + document]
        if resources:
            argv += ["--resources", _omni_json.dumps(resources)]
        argv += ["--result-uri", "file://" + _omni_url.quote(prefix), "--rerun", "--overwrite"]
        argv += list(_omni_settings.get("run_args", []))
        line = " ".join(_omni_shlex.quote(str(a)) for a in argv) + " >/dev/null"
        # shell() formats its command: braces in paths stay braces.
        return line.replace("{", "{{").replace("}", "}}")

    @staticmethod
    def resources(threads, resources, cpu, memory_mb, time_limit_s):
        """What the scheduler changed from the spec's requirements.resources
        (--set-threads, --set-resources): passed on as RESOURCES_JSON."""
        changed = {}
        if threads != _omni_math.ceil(cpu or 1):
            changed["cpu"] = threads
        mem_mb = resources.get("mem_mb")
        if memory_mb is not None and mem_mb is not None and mem_mb != memory_mb:
            changed["memory_mb"] = mem_mb
        runtime = resources.get("runtime")
        if runtime is not None and runtime != _omni_math.ceil((time_limit_s or 0) / 60):
            changed["time_limit_s"] = int(runtime) * 60
        return changed

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if self.document is not None:
            _omni_os.unlink(self.document)
        if error is None:
            # A File[] output that matched nothing is an empty folder.
            for path in self.output:
                if is_flagged(path, "directory"):
                    _omni_os.makedirs(path, exist_ok=True)
            return False
        if not isinstance(error, _omni_subprocess.CalledProcessError):
            return False
        status = error.returncode
        if status < 0:
            # The job was ended (scancel, a time limit): the launcher may
            # still be storing its results.json.
            what = f"ended by {_omni_signal.Signals(-status).name}"
        else:
            what = f"exit status {status}"
        try:
            with open(self.results) as results:
                failed = _omni_json.load(results).get("error") or {}
            what += f", {failed['kind']}: {failed['message']}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if status == 75:
            what += " (a retry can help: `snakemake --retries 2`)"
        raise _OmniError(
            f"{self.tool} job {self.name} failed: omni-launch {what}; see {self.results}"
        ) from None
