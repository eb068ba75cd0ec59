"""Generic reading lessons for the tiny Phi-3's pre-training: answer from the given sources, cite them, or abstain.

A real Phi-3 arrives able to read a context; a tiny model trained from nothing must learn it before RAG can
help it, on any corpus. These lessons teach the skill on a fictional world that shares nothing with any
sample dataset (tests/models/test_reading.py holds it to that against data/pumps): product manuals of
made-up brands of telescopes, espresso machines, e-bikes, kilns, drones and the like, every figure drawn
at random per lesson, so nothing can be answered from memory and the only way to the answer is reading.

Each lesson is a chat row in exactly the prompt evaluation and serving send (phi3ray.rag.prompt.build_prompt:
the instruction, numbered sources fitted to the token budget, the question), with the sources of one
"retrieval": the gold passage among distractors that are deliberately close (the same attribute of a sibling
model — LK-40 next to LK-60 — or another section of the same manual). The answer copies the sentence that
holds the fact and cites its number, "... 14 N·m. [2]"; when no passage holds it (the attribute is absent,
or the model asked about is not among the sources) the answer is prompt.ABSTAIN. Some rows are plain
questions without sources (answered in the same one-sentence style, from nothing — the base model's habit)
and some are two-turn conversations whose second turn is a RAG turn.

Seeded and deterministic: the same (seed, count) gives the same rows.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from phi3ray.rag.prompt import ABSTAIN, build_prompt

# Made-up brands and the product families they make. None of these words occurs in data/pumps (tested).
BRANDS = [
    "Larkspur", "Bramble", "Corvina", "Halden", "Mirelle", "Tessaly", "Quillon", "Fennick", "Glimmer", "Juniper",
    "Kestrel", "Lumen", "Marlowe", "Nimbus", "Orrin", "Pellham", "Ravel", "Sorrel", "Thistle", "Umber",
    "Wrenfield", "Yarrow", "Zephra", "Calder", "Dunmore", "Elowen", "Farrow", "Gilder", "Hollis", "Isolde",
]
PRODUCTS = {
    "telescope": ["focuser", "dew shield", "mirror cell", "tripod leg", "finder bracket", "eyepiece holder"],
    "espresso machine": ["boiler", "steam wand", "group head", "drip tray", "grinder burr", "water tank"],
    "e-bike": ["chainring", "brake caliper", "battery pack", "rear hub", "handlebar stem", "kickstand"],
    "greenhouse": ["roof vent", "door rail", "glazing clip", "heater", "gutter", "shelf bracket"],
    "3D printer": ["print head", "build plate", "extruder gear", "belt tensioner", "cooling fan", "filament guide"],
    "sailing dinghy": ["mast step", "centreboard", "rudder pintle", "boom vang", "hiking strap", "bailer"],
    "kiln": ["heating element", "thermocouple", "lid hinge", "vent plug", "shelf post", "door latch"],
    "weather station": ["anemometer", "rain gauge", "solar panel", "mounting pole", "display console", "sensor shield"],
    "sewing machine": ["bobbin case", "presser foot", "needle plate", "feed dog", "tension dial", "drive belt"],
    "drone": ["propeller", "gimbal", "landing leg", "battery latch", "motor mount", "camera arm"],
    "dishwasher": ["spray arm", "filter basket", "door hinge", "rinse aid dispenser", "cutlery rack", "drain hose"],
    "treadmill": ["running belt", "deck", "incline motor", "safety key", "console", "roller"],
}
DOC_TYPES = ["Technical Data", "Maintenance Guide", "Assembly Manual", "Service Manual", "Care and Cleaning"]
MATERIALS = ["anodised aluminium", "stainless steel", "glass-filled nylon", "brass", "carbon fibre", "oak",
             "silicone rubber", "cast zinc", "borosilicate glass", "polycarbonate"]
SYMPTOMS = ["the {p} is overheating", "the {p} sensor is disconnected", "the supply voltage is too low",
            "the {p} is blocked", "the {p} is not seated", "the memory card is full", "the lid is open",
            "the {p} has worn beyond its limit", "the firmware update failed", "the battery is too cold"]
REMEDIES = ["clean the {p} and restart", "re-seat the {p} cable", "let the unit cool for 30 minutes",
            "replace the {p}", "check the mains supply", "close the lid firmly", "reinstall the firmware",
            "contact an authorised service centre"]
FILLERS = [
    "Read the safety notes before you start any work on the {e}.",
    "Switch the {e} off and unplug it before you open any cover.",
    "Keep the {p} clean and dry, and wipe it with a soft cloth after use.",
    "Use only original {b} parts; other parts void the warranty.",
    "The figures in this section refer to the standard {e} as delivered.",
    "Work on a flat, clean surface and keep small parts in a tray.",
    "If you are unsure about any step, ask your {b} dealer.",
    "Record every service in the log book supplied with the {e}.",
    "Do not use solvents on painted or printed surfaces.",
    "Wear gloves when you handle the {p}, as its edges can be sharp.",
]
SECTIONS = {"spec": "Specifications", "care": "Inspection and care", "fit": "Fitting and adjustment",
            "parts": "Spare parts", "codes": "Fault codes", "terms": "Terms used in this manual"}
TERM_WORDS = ["rated", "nominal", "thermal", "load", "cycle", "output", "index", "flow", "balance", "limit",
              "reference", "drift", "margin", "peak", "reserve", "standby", "tension", "offset"]
SYSTEM_PROMPTS = [
    "You are {b}'s support assistant. Answer precisely from the {n} manuals.",
    "You answer questions about {b} products for service technicians.",
    "You are a helpful assistant.",
]


@dataclass(frozen=True)
class Fact:
    """One statement of a manual, the questions it answers, and the one-sentence answer."""

    key: tuple  # (attribute, part or None, entity): what a question asks about
    sentence: str  # as the manual says it (the answer copies it)
    questions: tuple[str, ...]
    section: str  # SECTIONS key
    row: tuple[str, str] | None = None  # (label, value) when it may appear as a table row instead
    answer: str | None = None  # the answer when it is not the sentence (table rows)


@dataclass
class Manual:
    brand: str
    code: str  # LK-40
    noun: str  # telescope
    facts: list[Fact] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.brand} {self.code}"


def _value(rng: random.Random, lo: float, hi: float, step: float = 1) -> str:
    v = round(rng.uniform(lo, hi) / step) * step
    return f"{v:.1f}" if step < 1 else str(int(v))


def _facts(rng: random.Random, m: Manual) -> list[Fact]:
    """Every fact a manual of m may state, values drawn fresh."""
    e, n, parts = m.name, m.noun, PRODUCTS[m.noun]
    prefix = m.code.split("-")[0]
    f: list[Fact] = []
    kg = _value(rng, 2, 400, 0.5 if rng.random() < 0.3 else 1)
    f.append(Fact(("weight", None, e), rng.choice([
        f"A complete {e} {n} weighs about {kg} kg.", f"The {e} weighs {kg} kg ready for use.",
        f"With all accessories fitted, the {e} has a mass of {kg} kg."]),
        (f"How heavy is the {e}?", f"What is the mass of a complete {e} {n}?", f"What does the {e} {n} weigh?"),
        "spec", ("Weight", f"{kg} kg"), None))
    watts = _value(rng, 5, 3000, 5)
    f.append(Fact(("power", None, e), rng.choice([
        f"The {e} draws {watts} W at full load.", f"At full load the power consumption of the {e} is {watts} W."]),
        (f"What is the power consumption of the {e}?", f"How many watts does the {e} draw at full load?"),
        "spec", ("Power consumption", f"{watts} W")))
    temp = _value(rng, 25, 1300, 5)
    f.append(Fact(("temperature", None, e), rng.choice([
        f"Do not operate the {e} above {temp} °C.", f"The maximum operating temperature of the {e} is {temp} °C."]),
        (f"What is the maximum operating temperature of the {e}?", f"Above what temperature must the {e} not be used?"),
        "spec", ("Maximum temperature", f"{temp} °C")))
    months = rng.choice([6, 12, 18, 24, 36, 48, 60])
    f.append(Fact(("warranty", None, e), f"The {e} is covered by a warranty of {months} months from delivery.",
                  (f"How long is the warranty on the {e}?", f"For how many months is the {e} under warranty?"),
                  "spec", ("Warranty", f"{months} months")))
    rpm = _value(rng, 300, 12000, 50)
    f.append(Fact(("speed", None, e), f"The rated speed of the {e} is {rpm} rpm.",
                  (f"What is the rated speed of the {e}?", f"At how many rpm does the {e} run?"), "spec",
                  ("Rated speed", f"{rpm} rpm")))
    for part in rng.sample(parts, 4):
        kind = rng.choice(["torque", "interval", "number", "material", "gap", "capacity", "pressure", "code"])
        if kind == "torque":
            nm = _value(rng, 1, 250)
            f.append(Fact(("torque", part, e), rng.choice([
                f"Tighten the {part} screws of the {e} to {nm} N·m.",
                f"The {part} bolts on the {e} are tightened to {nm} N·m in a cross pattern."]),
                (f"What torque is used for the {part} screws of the {e}?",
                 f"To what torque are the {part} bolts of the {e} tightened?",
                 f"How tight must the {part} screws on an {e} be?"), "fit"))
        elif kind == "interval":
            every, unit = rng.choice([(_value(rng, 50, 4000, 50), "operating hours"), (rng.randint(1, 24), "months")])
            f.append(Fact(("interval", part, e), rng.choice([
                f"Inspect the {part} of the {e} every {every} {unit}.",
                f"The {part} of the {e} must be checked every {every} {unit}."]),
                (f"How often should the {part} of the {e} be inspected?",
                 f"What is the inspection interval for the {e} {part}?",
                 f"After how many {unit} is the {part} on the {e} checked?"), "care"))
        elif kind == "number":
            abbr = "".join(w[0] for w in part.split()).upper() + rng.choice("ABCDEFGHKMNPRSTW")
            number = f"{prefix}-{abbr}-{rng.randint(10, 990)}"
            f.append(Fact(("number", part, e), rng.choice([
                f"The replacement {part} for the {e} is part number {number}.",
                f"Order a new {part} for the {e} as {number}."]),
                (f"Which part number has the {part} for the {e}?",
                 f"Which part number should I order for a new {e} {part}?"), "parts"))
        elif kind == "material":
            material = rng.choice(MATERIALS)
            f.append(Fact(("material", part, e), f"The {part} of the {e} is made of {material}.",
                          (f"What material is the {part} of the {e} made of?", f"What is the {e} {part} made from?"),
                          "spec"))
        elif kind == "gap":
            low = _value(rng, 0.1, 3, 0.1)
            limit = f"{float(low) * rng.choice([2, 3]):.1f}"
            f.append(Fact(("gap", part, e),
                          f"The clearance of the {part} on the {e} is {low} mm; reset it once it has grown to {limit} mm.",
                          (f"At what clearance must the {part} of the {e} be reset?",
                           f"What is the nominal clearance of the {e} {part}?"), "fit"))
        elif kind == "capacity":
            litres = _value(rng, 0.2, 60, 0.1)
            f.append(Fact(("capacity", part, e), f"The {part} of the {e} holds {litres} L.",
                          (f"How much does the {part} of the {e} hold?", f"What volume does the {e} {part} hold?"),
                          "spec"))
        elif kind == "pressure":
            bar = _value(rng, 0.5, 40, 0.5)
            f.append(Fact(("pressure", part, e), f"The {part} of the {e} is rated for {bar} bar.",
                          (f"What pressure is the {part} of the {e} rated for?",
                           f"For how many bar is the {e} {part} rated?"), "spec"))
        else:
            code = f"{rng.choice('FCHLPU')}{rng.randint(1, 60):02d}"
            symptom = rng.choice(SYMPTOMS).format(p=part)
            remedy = rng.choice(REMEDIES).format(p=part)
            f.append(Fact(("code", code, e), f"Code {code} on the {e} means {symptom}. Remedy: {remedy}.",
                          (f"What does code {code} mean on the {e}?", f"Explain fault code {code} of the {e}."),
                          "codes"))
    term = rng.sample(TERM_WORDS, 3)
    abbr = "".join(w[0] for w in term).upper()
    f.append(Fact(("term", abbr, m.brand), f"{abbr} stands for {' '.join(term)}, as used in the {m.brand} manuals.",
                  (f"What does {abbr} stand for in the {m.brand} manuals?", f"In {m.brand} manuals, what is {abbr}?"),
                  "terms"))
    return f


def _passage(rng: random.Random, m: Manual, facts: list[Fact], section: str) -> tuple[str, str, str]:
    """(title, section heading, text) of one chunk stating facts, with filler sentences between them."""
    parts = PRODUCTS[m.noun]
    fill = [rng.choice(FILLERS).format(e=m.name, p=rng.choice(parts), b=m.brand) for _ in range(rng.randint(2, 5))]
    tabular = [x for x in facts if x.row is not None]
    if section == "spec" and len(tabular) >= 2 and rng.random() < 0.35:
        prose = [x.sentence for x in facts if x.row is None] + fill
        table = "| Parameter | Value |\n|---|---|\n" + "\n".join(f"| {x.row[0]} | {x.row[1]} |" for x in tabular)
        text = " ".join(prose) + "\n\n" + table
    elif section in ("fit", "care") and rng.random() < 0.4:
        steps = [x.sentence for x in facts] + fill
        rng.shuffle(steps)
        text = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    else:
        sentences = [x.sentence for x in facts] + fill
        rng.shuffle(sentences)
        text = " ".join(sentences)
    title = f"{m.brand} {m.code} {m.noun.capitalize() if m.noun[0].islower() else m.noun}: {rng.choice(DOC_TYPES)}"
    return title, SECTIONS[section], text


def _answer(fact: Fact, text: str) -> str:
    """The sentence holding the fact as the chunk shows it, or for a table row a sentence made from it."""
    if fact.sentence in text:
        return fact.sentence
    label, value = fact.row
    return f"The {label.lower()} of the {fact.key[2]} is {value}."


def _manuals(rng: random.Random) -> list[Manual]:
    """Two to four sibling models of one brand and product (LK-40, LK-60 ...), as a family of manuals."""
    brand, noun = rng.choice(BRANDS), rng.choice(list(PRODUCTS))
    prefix = (brand[:2] + rng.choice("ABCDEFGHKLMNPRSTXZ")[: rng.randint(0, 1)]).upper()
    numbers = rng.sample(range(2, 100), rng.randint(2, 4))
    scale = rng.choice([1, 10, 10, 100])
    return [Manual(brand, f"{prefix}-{n * scale}", noun) for n in numbers]


def _chunk(title: str, section: str, text: str, rank: int):
    from phi3ray.rag.prompt import RetrievedChunk

    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return RetrievedChunk(object_id=f"{slug}-{rank}", doc_id=slug, title=title, section=section,
                          source=f"{slug}.md", text=text, chunk_index=0, score=1.0 - rank / 10)


def lesson(rng: random.Random, tokenizer, *, token_budget: int, context_length: int, answer_tokens: int) -> dict | None:
    """One chat row (see the module docstring); None when the drawn sources do not fit the budget."""
    family = _manuals(rng)
    for manual in family:
        manual.facts = _facts(rng, manual)
    target = rng.choice(family)
    fact = rng.choice(target.facts)
    question = rng.choice(fact.questions)
    brand, noun = target.brand, target.noun
    system = rng.choice(SYSTEM_PROMPTS).format(b=brand, n=noun) if rng.random() < 0.6 else None
    mode = rng.choices(["read", "absent", "missing", "none", "plain"], [60, 12, 10, 4, 14])[0]
    if mode == "plain":  # no sources: a one-sentence answer from nothing, as a base model does
        messages = [{"role": "user", "content": question}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        return {"messages": messages + [{"role": "assistant", "content": fact.sentence}], "kind": mode}
    # the gold passage, then near misses: the same kind of fact of sibling models, other sections of the manual
    chunks: list[tuple[str, str, str]] = []
    gold_text = None
    if mode == "read":
        others = [x for x in target.facts if x.section == fact.section and x is not fact]
        chosen = [fact] + rng.sample(others, min(len(others), rng.randint(1, 4)))
        title, section, gold_text = _passage(rng, target, chosen, fact.section)
        chunks.append((title, section, gold_text))
    pool: list[tuple[Manual, str]] = []
    for manual in family:
        if manual is target and mode == "missing":
            continue  # the model asked about is not among the sources at all
        for section in dict.fromkeys(x.section for x in manual.facts):  # ordered: a set's order follows the hash seed
            pool.append((manual, section))
    rng.shuffle(pool)
    for manual, section in pool[: rng.randint(2, 4) if mode == "read" else rng.randint(2, 5)]:
        facts = [x for x in manual.facts if x.section == section and not (manual is target and x is fact)]
        if not facts:
            continue
        chunks.append(_passage(rng, manual, rng.sample(facts, min(len(facts), rng.randint(1, 4))), section))
    if mode == "none":
        chunks = []
    if chunks and gold_text is not None:  # the retriever often ranks the gold chunk first, not always
        gold = chunks.pop(0)
        chunks.insert(0 if rng.random() < 0.4 else rng.randint(0, len(chunks)), gold)
    turns = [{"role": "user", "content": question}]
    if rng.random() < 0.12:  # a conversation: an earlier plain turn about a sibling
        earlier = rng.choice(rng.choice(family).facts)
        turns = [{"role": "user", "content": rng.choice(earlier.questions)},
                 {"role": "assistant", "content": earlier.sentence}] + turns
    retrieved = [_chunk(t, s, x, rank) for rank, (t, s, x) in enumerate(chunks)]
    messages, sources = build_prompt(turns, retrieved, tokenizer, system_prompt=system, token_budget=token_budget,
                                     context_length=context_length, answer_tokens=answer_tokens)
    if gold_text is not None:
        number = next((s.number for s, c in zip(sources, retrieved) if c.text == gold_text), None)
        shown = messages[-1]["content"]
        answer_text = _answer(fact, gold_text)
        evidence = fact.sentence if fact.sentence in gold_text else f"| {fact.row[0]} | {fact.row[1]} |"
        if number is None or evidence not in shown:
            return None  # the budget cut the gold chunk before the fact: draw again
        answer = f"{answer_text} [{number}]"
    else:
        answer = ABSTAIN
    return {"messages": messages + [{"role": "assistant", "content": answer}], "kind": mode}


def lessons(count: int, tokenizer, *, seed: int = 0, token_budget: int = 1024, context_length: int = 1024,
            answer_tokens: int = 128) -> list[dict]:
    """count lessons, deterministic for (seed, count, tokenizer)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    while len(rows) < count:
        row = lesson(rng, tokenizer, token_budget=token_budget, context_length=context_length,
                     answer_tokens=answer_tokens)
        if row is not None:
            rows.append(row)
    return rows


# Open lessons: the same reading task in a language with nothing to lean on. The lessons above are one narrow
# world (a few dozen brands and products, a few sentence templates); a tiny model learns its prior and, given
# a pump manual, answers in it ("The warranty of the Ravel RA-100 is 12 months."). Here entities, attributes
# and values are random words of the tokenizer's whole vocabulary, so the passage is the only guide.
OPEN_STATEMENTS = [
    "The {a} of the {e} is {v}.", "Each {e} has a {a} of {v}.", "For the {e}, the {a} is {v}.",
    "On the {e} the {a} reads {v}.", "The {e} {a}: {v}.", "Set the {a} of the {e} to {v}.",
]
OPEN_QUESTIONS = ["What is the {a} of the {e}?", "What {a} does the {e} have?", "Which {a} is given for the {e}?",
                  "What is the {e} {a}?", "Tell me the {a} of the {e}."]


def vocabulary_words(tokenizer) -> list[str]:
    """The lower-case words (three letters or more) that the tokenizer holds as one token after a space, sorted."""
    return sorted({token[1:] for token in tokenizer.get_vocab() if re.fullmatch(r"Ġ[a-z]{3,}", token)})


def _open_fact(rng: random.Random, words: list[str], entity: str, attribute: str) -> tuple[str, str]:
    """(statement, question) about one attribute of one entity; the value is fresh random words or a figure."""
    if rng.random() < 0.4:
        value = f"{rng.randint(2, 990)} {rng.choice(words)}"
    else:
        value = " ".join(rng.sample(words, rng.randint(1, 2)))
    slots = dict(a=attribute, e=entity, v=value)
    return rng.choice(OPEN_STATEMENTS).format(**slots), rng.choice(OPEN_QUESTIONS).format(**slots)


def open_lesson(rng: random.Random, tokenizer, words: list[str], *, token_budget: int, context_length: int,
                answer_tokens: int) -> dict | None:
    """One chat row of the reading task (see the module docstring) about entities made of random words.

    Siblings share a name's first word ("harbor 40", "harbor 60") and their passages state the same attributes,
    so only the whole name finds the gold statement; in a fifth of the rows the asked attribute of the asked
    entity is stated nowhere (its siblings' are) and the answer is the abstention.
    """
    stem = rng.choice(words)
    siblings = [f"{stem} {x}" for x in (rng.sample(range(2, 100), rng.randint(2, 4)) if rng.random() < 0.5
                                        else rng.sample(words, rng.randint(2, 4)))]
    attributes = [" ".join(rng.sample(words, rng.randint(1, 2))) for _ in range(rng.randint(3, 6))]
    target, asked = rng.choice(siblings), rng.choice(attributes)
    absent = rng.random() < 0.2
    gold, question = _open_fact(rng, words, target, asked)
    chunks = []
    for entity in siblings:
        stated = [a for a in attributes if rng.random() < 0.7 or a == asked]
        statements = [gold if (entity, a) == (target, asked) else _open_fact(rng, words, entity, a)[0]
                      for a in stated if not (absent and (entity, a) == (target, asked))]
        filler = [" ".join(rng.choices(words, k=rng.randint(4, 10))).capitalize() + "."
                  for _ in range(rng.randint(0, 3))]
        text = statements + filler
        rng.shuffle(text)
        title = f"{entity} {rng.choice(words)}"
        if text:
            chunks.append((title, rng.choice(words), " ".join(text)))
    rng.shuffle(chunks)
    retrieved = [_chunk(t, s, x, rank) for rank, (t, s, x) in enumerate(chunks)]
    messages, sources = build_prompt([{"role": "user", "content": question}], retrieved, tokenizer, system_prompt=None,
                                     token_budget=token_budget, context_length=context_length,
                                     answer_tokens=answer_tokens)
    if absent:
        answer = ABSTAIN
    else:
        texts = {c.object_id: c.text for c in retrieved}
        number = next((s.number for s in sources if gold in texts[s.object_id]), None)
        if number is None or gold not in messages[-1]["content"]:
            return None  # the budget cut the gold statement: draw again
        answer = f"{gold} [{number}]"
    return {"messages": messages + [{"role": "assistant", "content": answer}], "kind": "absent" if absent else "read"}


def open_lessons(count: int, tokenizer, *, seed: int = 0, token_budget: int = 1024, context_length: int = 1024,
                 answer_tokens: int = 128) -> list[dict]:
    """count open lessons, deterministic for (seed, count, tokenizer)."""
    rng, words = random.Random(seed), vocabulary_words(tokenizer)
    rows: list[dict] = []
    while len(rows) < count:
        row = open_lesson(rng, tokenizer, words, token_budget=token_budget, context_length=context_length,
                          answer_tokens=answer_tokens)
        if row is not None:
            rows.append(row)
    return rows
