"""Prints libhangar's version-control figures against the original Hangar's (milliseconds)."""
import json
import sys

ours = json.load(open(sys.argv[1]))
theirs = json.load(open(sys.argv[2]))
rows = [
    ("diff of two branches", "diff_ms"),
    ("three-way merge, no conflicts", "merge_ms"),
    ("create a branch", "create_branch_ms"),
    ("checkout of the first commit + read one sample", "checkout_commit_ms"),
    ("writer checkout of another branch", "checkout_writer_branch_ms"),
    ("one commit of one change (mean)", "commit_ms_each"),
    ("log (structured)", "log_ms"),
    ("log drawn as a graph", "log_graph_ms"),
]
print(f"\nversion control, {theirs['samples']:,} samples, {theirs['changes']:,} changed, "
      f"log over {theirs['commits']:,} commits (milliseconds; lower is better)")
print(f"  {'':<48} {'libhangar':>10} {'hangar-py':>10} {'speed-up':>9}")
for name, key in rows:
    mine, other = ours.get(key), theirs.get(key)
    if mine is None or other is None:
        continue
    print(f"  {name:<48} {mine:>10.2f} {other:>10.2f} {other / mine if mine else float('nan'):>8.1f}x")
