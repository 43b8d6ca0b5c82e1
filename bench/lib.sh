# lib.sh holds what bench/run.sh and bench/scale.sh share; they source it.

log() { printf '%s\n' "$*" >&2; }

# describe_machine prints 'key: value' lines about this machine and its
# load, for bench/report's machine section.
describe_machine() {
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	# The binaries are built from the work tree: say so when it differs from HEAD.
	echo "commit: $(git describe --always --dirty=" (work tree with uncommitted changes)")"
	echo "nproc: $(nproc)"
	echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
	echo "kernel: $(uname -sr)"
	echo "Go: $(go version | cut -d' ' -f3-)"
	echo "file descriptor limit: $(ulimit -n)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# wait_port PORT waits up to ten seconds for 127.0.0.1:PORT to accept a
# connection.
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}
