# shellcheck shell=bash
# partitions_note prints, for a report, how many partitions each new table
# of the benchmarked servers has: GODWIT_ARGS's --partitions, else godwit's
# default (one per core, 2..64; region.DefaultPartitions).
partitions_note() {
	local n
	n=$(sed -n 's/.*--partitions[ =]\([0-9][0-9]*\).*/\1/p' <<<"${GODWIT_ARGS:-}")
	if [[ -n $n ]]; then
		echo "$n partitions per table (GODWIT_ARGS)"
		return
	fi
	n=$(nproc)
	((n < 2)) && n=2
	((n > 64)) && n=64
	echo "$n partitions per table (the default: one per core)"
}
