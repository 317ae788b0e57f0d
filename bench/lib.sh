# lib.sh: shell helpers shared by bench/compare.sh and bench/gobench.sh
# (sourced; not a program).

# wait_child CMD...: runs CMD in the background and waits for it, keeping
# its pid in CHILD_PID meanwhile, so that the caller's EXIT trap can stop it
# when the script is interrupted. Returns CMD's status.
wait_child() {
    "$@" &
    CHILD_PID=$!
    local rc=0
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}
