"""Writes the seed corpora of the fuzz targets that read sessions (scripts/fuzz.sh): a session,
a labelling task, an autosave entry, and a task with two labellers' answers for the crowd
merge, all made from one session file.

Usage: python3 scripts/fuzz_seeds.py SESSION.json SEEDS_DIR
"""
import json
import os
import sys

session_path, seeds = sys.argv[1], sys.argv[2]
with open(session_path) as file:
    session = json.load(file)


def write(target, name, data):
    os.makedirs(os.path.join(seeds, target), exist_ok=True)
    with open(os.path.join(seeds, target, name), "wb") as file:
        file.write(data)


def text(value):
    return json.dumps(value, indent=1).encode()


task = dict(session, task={
    "id": "0123456789abcdef", "title": "Label the phases", "instructions": "Click chips.",
    "chips": [[0, 0], [3, 1], [5, 5]],
    "reference": [{"chip": [0, 0], "class": session["classes"][0]["name"]}],
})
answers = []
for labeller, shift in (("ada", 0), ("grace", 1)):
    answer = json.loads(json.dumps(task))
    answer["task"]["labeller"] = labeller
    answer["task"].pop("reference")
    for index, label in enumerate(answer["classes"]):
        label["supports"] = [[row, (col + shift * index) % 8] for row, col in label["supports"]]
    answers.append(answer)

write("session", "example.json", text(session))
write("session", "task.json", text(task))
write("autosave", "example.json", text({"saved_at_ms": 1.7e12, "labelling": False, "session": session}))
write("autosave", "answer.json", text({"saved_at_ms": 1.7e12, "labelling": True, "session": answers[0]}))
write("crowd_merge", "task-answers", b"\0".join(text(value) for value in [task] + answers))
write("crowd_merge", "answers", b"\0".join(text(value) for value in answers))
