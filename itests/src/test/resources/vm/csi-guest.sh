#!/bin/sh
# The CSI node in the QEMU guest: this machine's build of `mayastor csi-node` on the guest's kernel
# (VM_HOSTROOT=1), and a small agent that runs the host test's commands: the host drops
# cmd-N.sh into the shared directory (/mnt/host here, /mnt under hostrun), the agent runs it with
# bash on the host's userspace and leaves out-N (stdout and stderr) and rc-N. It stops when the
# host drops "stop", after stopping csi-node (SIGTERM). "kill-node" SIGKILLs csi-node, "start-node"
# starts it again (its log goes on in csi-node.log).
set -u
S=/mnt/host
# the shared directory is /mnt/host here; make it /mnt under hostrun too (the VM tool mounts a tmpfs
# there when its mountpoint check misses the 9p share)
umount /host/mnt 2>/dev/null
mount --bind /mnt/host /host/mnt
hostrun mkdir -p /tmp/csi
# The JVM runs on one vCPU: under QEMU's multi-threaded TCG, code the JIT patches on one vCPU while
# another runs it has made a JVM die at start-up now and then (SIGILL or SIGSEGV at a method's
# entry). Should it still die of a fatal error (exit 134, before anything was staged), it is
# started again, at most three times, and the log says so.
start_node() {
    (
        n=0
        while :; do
            # a JVM under emulation, beside CI's other stream: a component may take a minute to activate
            MAYASTOR_NODE_OPTS="-Dmayastor.startup.timeout.seconds=300" \
            hostrun taskset -c 0 "$GUEST_MAYASTOR" csi-node --node-id "$GUEST_NODE_ID" \
                --csi-endpoint "unix:///tmp/csi/csi.sock,tcp://0.0.0.0:$GUEST_CSI_PORT" \
                --control-endpoint "$GUEST_CONTROL" --state-dir /tmp/csi/state --registration-interval-seconds 1 \
                --csi-device-timeout-seconds "$GUEST_DEVICE_TIMEOUT" >>"$S/csi-node.log" 2>&1
            rc=$?
            if [ "$rc" != 134 ] || [ "$n" -ge 3 ]; then
                exit "$rc"
            fi
            n=$((n + 1))
            echo "csi-node: its JVM died of a fatal error under emulation (exit 134); started again ($n)" >>"$S/csi-node.log"
        done
    ) &
    NODE=$!
}
start_node
echo "agent up" >"$S/agent"
n=0
while [ ! -e "$S/stop" ]; do
    if [ -e "$S/kill-node" ]; then
        # a crash: SIGKILL, nothing cleaned up; started again by the next "start-node"
        rm -f "$S/kill-node"
        hostrun pkill -9 -f "csi-node --node-id $GUEST_NODE_ID"
        wait "$NODE" 2>/dev/null
        echo "csi-node killed" >>"$S/csi-node.log"
    elif [ -e "$S/start-node" ]; then
        rm -f "$S/start-node"
        start_node
    elif [ -e "$S/cmd-$n.sh" ]; then
        hostrun /bin/bash "/mnt/cmd-$n.sh" >"$S/out-$n.tmp" 2>&1
        echo $? >"$S/rc-$n.tmp"
        mv "$S/out-$n.tmp" "$S/out-$n"
        mv "$S/rc-$n.tmp" "$S/rc-$n"
        n=$((n + 1))
    else
        sleep 0.2
    fi
done
hostrun pkill -TERM -f "csi-node --node-id $GUEST_NODE_ID"
for i in $(seq 50); do kill -0 "$NODE" 2>/dev/null || break; sleep 0.2; done
echo "agent stopped"
