# Sourced (bash) by deploy/build-image.sh, otel-collector/stack.sh and the tests before
# they call podman. On hosts that need it, it writes a containers.conf of our own and
# exports CONTAINERS_CONF (podman, buildah and podman-compose all read it):
#   - crun (Debian 12) refuses a hybrid cgroup layout (cgroup v1 plus a cgroup2 mount with
#     controllers enabled): the OCI runtime becomes runc;
#   - a root without CAP_SYS_RESOURCE (as in some sandboxes) cannot raise RLIMIT_NOFILE /
#     RLIMIT_NPROC to podman's defaults: containers keep this shell's open-files limit and
#     at most 4096 tasks.
# Elsewhere it changes nothing. A CONTAINERS_CONF already set is left alone.
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  _pv_conf=""
  if grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null \
     && command -v runc >/dev/null 2>&1; then
    _pv_conf+=$'runtime = "runc"\n'
  fi
  _pv_capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status 2>/dev/null)
  if [[ -n "$_pv_capeff" ]] && (( (16#$_pv_capeff >> 24 & 1) == 0 )); then
    # NPROC equal to the current limit is refused too; 4096 tasks are plenty.
    _pv_nproc=$(ulimit -Hu); [[ "$_pv_nproc" == unlimited || "$_pv_nproc" -gt 4096 ]] && _pv_nproc=4096
    _pv_ulimits="default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=$_pv_nproc:$_pv_nproc\"]"
    if [[ -n "$_pv_conf" ]]; then
      _pv_conf="[engine]"$'\n'"$_pv_conf"
    fi
    _pv_conf="[containers]"$'\n'"$_pv_ulimits"$'\n'"$_pv_conf"
  elif [[ -n "$_pv_conf" ]]; then
    _pv_conf="[engine]"$'\n'"$_pv_conf"
  fi
  if [[ -n "$_pv_conf" ]]; then
    _pv_file="${TMPDIR:-/tmp}/pktvisor-containers-$(id -u).conf"
    printf '%s' "$_pv_conf" > "$_pv_file"
    export CONTAINERS_CONF="$_pv_file"
  fi
  unset _pv_conf _pv_capeff _pv_ulimits _pv_file _pv_nproc
fi
