# Installs (once) and starts a one-node Slurm cluster on 127.0.0.1 for the
# tests of examples/slurm and of Snakemake's Slurm executor, and a Python
# venv with Snakemake and its Slurm plugin. Source it: `. .ci/slurm.sh`.
#   OMNI_TEST_SNAKEMAKE   the snakemake program (in .ci/.venv-snakemake)
#   OMNI_TEST_SLURM       1 when the cluster answers
# Needs root (slurmd runs jobs as their users; the config goes to
# /etc/slurm/slurm.conf, where srun and sbatch read it). The daemons stop
# when the shell that sourced this exits (see OMNI_CI_PIDS in stores.sh).

_omni_ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x "$_omni_ci_dir/.venv-snakemake/bin/snakemake" ]; then
  python3 -m venv "$_omni_ci_dir/.venv-snakemake"
  "$_omni_ci_dir/.venv-snakemake/bin/pip" install --quiet \
    'snakemake==9.27.1' 'snakemake-executor-plugin-slurm==2.8.0'
fi
export OMNI_TEST_SNAKEMAKE="$_omni_ci_dir/.venv-snakemake/bin/snakemake"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

_omni_slurm_dir=$(mktemp -d "${TMPDIR:-/tmp}/omni-slurm.XXXXXX")
mkdir -p "$_omni_slurm_dir/state" "$_omni_slurm_dir/spool" "$_omni_slurm_dir/munge"
chmod 700 "$_omni_slurm_dir/munge"

# munge: a key of its own, a socket in the temporary directory (slurm finds
# it through the config), no network.
dd if=/dev/urandom of="$_omni_slurm_dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$_omni_slurm_dir/munge/munge.key"
munged --force --key-file "$_omni_slurm_dir/munge/munge.key" \
  --socket "$_omni_slurm_dir/munge/munge.socket" \
  --pid-file "$_omni_slurm_dir/munge/munged.pid" \
  --log-file "$_omni_slurm_dir/munge/munged.log" \
  --seed-file "$_omni_slurm_dir/munge/munged.seed"
OMNI_CI_PIDS="${OMNI_CI_PIDS:-} $(cat "$_omni_slurm_dir/munge/munged.pid")"

_omni_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_omni_host=$(hostname -s)
_omni_cpus=$(nproc)
_omni_mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
mkdir -p /etc/slurm
if [ -e /etc/slurm/slurm.conf ] && ! grep -q '^# omni-launch CI' /etc/slurm/slurm.conf; then
  echo "/etc/slurm/slurm.conf exists and is not ours; not touching it" >&2
  return 1 2>/dev/null || exit 1
fi
cat >/etc/slurm/slurm.conf <<EOF
# omni-launch CI: one node on 127.0.0.1 (written by .ci/slurm.sh)
ClusterName=omni
SlurmctldHost=$_omni_host(127.0.0.1)
SlurmctldPort=$(_omni_free_port)
SlurmdPort=$(_omni_free_port)
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
AuthInfo=socket=$_omni_slurm_dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$_omni_slurm_dir/state
SlurmdSpoolDir=$_omni_slurm_dir/spool
SlurmctldPidFile=$_omni_slurm_dir/slurmctld.pid
SlurmdPidFile=$_omni_slurm_dir/slurmd.pid
SlurmctldLogFile=$_omni_slurm_dir/slurmctld.log
SlurmdLogFile=$_omni_slurm_dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
KillWait=30
NodeName=$_omni_host NodeAddr=127.0.0.1 CPUs=$_omni_cpus RealMemory=$_omni_mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -i
slurmd
for _ in $(seq 1 100); do
  [ -s "$_omni_slurm_dir/slurmctld.pid" ] && [ -s "$_omni_slurm_dir/slurmd.pid" ] && break
  sleep 0.1
done
OMNI_CI_PIDS="${OMNI_CI_PIDS:-} $(cat "$_omni_slurm_dir/slurmctld.pid") $(cat "$_omni_slurm_dir/slurmd.pid")"
trap 'kill $OMNI_CI_PIDS 2>/dev/null' EXIT

_omni_slurm_up=""
for _ in $(seq 1 150); do
  if sinfo --noheader --states=idle --format=%T 2>/dev/null | grep -q idle; then
    _omni_slurm_up=yes
    break
  fi
  sleep 0.2
done
if [ -z "$_omni_slurm_up" ]; then
  echo "slurm did not come up; logs in $_omni_slurm_dir" >&2
  tail -20 "$_omni_slurm_dir/slurmctld.log" "$_omni_slurm_dir/slurmd.log" >&2
  return 1 2>/dev/null || exit 1
fi
export OMNI_TEST_SLURM=1
echo "slurm: node $_omni_host idle on 127.0.0.1 (state in $_omni_slurm_dir)" >&2
