"""The starter model's pretraining corpus and its companion task, generated from templates.

Everything here is a pure function of a seed (Python's `random.Random`), so re-running the
scripts rebuilds the same text. Two kinds of documents:
  - plain English-like prose (a string): templated sentences about people, animals, things,
    colours, places, numbers and lists;
  - conversations (a list of (role, content) messages, rendered as ChatML) of small word and
    number tasks: repeat a list, first/last word, the word before/after a given word, count the
    words, add two digits, make a sentence, greet, write a plural.
The companion fine-tuning task, reversing a list of words, is deliberately absent from the
corpus: the base model knows the chat format and the list-handling tasks around it, but has
never been asked to reverse a list.
"""

import random

# Words a list can hold (the companion task draws from these too).
NOUNS = [
    "cat", "dog", "sun", "moon", "tree", "fish", "bird", "cake", "book", "lamp", "ship", "star",
    "rock", "leaf", "rain", "snow", "milk", "bread", "apple", "pear", "plum", "door", "road",
    "hill", "frog", "duck", "bell", "coat", "shoe", "hat", "cup", "box", "key", "ring", "drum",
    "kite", "boat", "car", "bus", "bed", "pen", "map", "egg", "nut", "bee", "fox", "owl", "cow",
]
PLURALS = {"fish": "fish", "box": "boxes", "bus": "buses"}
COLORS = ["red", "blue", "green", "yellow", "white", "black", "brown", "pink"]
NAMES = ["Tom", "Ann", "Sam", "Mia", "Ben", "Lily", "Max", "Zoe"]
VERBS = ["sees", "likes", "has", "finds", "takes", "wants", "makes", "draws"]
PLACES = ["park", "house", "garden", "school", "shop", "river", "farm", "forest"]
SIZES = ["big", "small", "old", "new", "little", "tall"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"


def plural(noun: str) -> str:
    return PLURALS.get(noun, noun + "s")


def a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def word_list(rng: random.Random, lo: int, hi: int) -> list[str]:
    """Distinct nouns, so every question about a list has one answer."""
    return rng.sample(NOUNS, rng.randint(lo, hi))


# ---- plain prose -------------------------------------------------------------------------------

def sentence(rng: random.Random) -> str:
    name, noun, color = rng.choice(NAMES), rng.choice(NOUNS), rng.choice(COLORS)
    place, verb, size = rng.choice(PLACES), rng.choice(VERBS), rng.choice(SIZES)
    n, m = rng.randint(0, 9), rng.randint(0, 9)
    kind = rng.randrange(12)
    if kind == 0:
        return f"{name} has {n} {noun if n == 1 else plural(noun)}."
    if kind == 1:
        return f"The {color} {noun} is in the {place}."
    if kind == 2:
        return f"{name} {verb} {a_or_an(color)} {color} {noun}."
    if kind == 3:
        return f"{n} plus {m} is {n + m}."
    if kind == 4:
        return f"After {n} comes {n + 1}."
    if kind == 5:
        items = word_list(rng, 2, 6)
        return f"The list has {len(items)} items: {', '.join(items)}."
    if kind == 6:
        return f"{name} went to the {place} and saw {a_or_an(size)} {size} {noun}."
    if kind == 7:
        start = rng.randint(0, 6)
        return ", ".join(w.capitalize() if i == 0 else w for i, w in enumerate(NUMBER_WORDS[start:start + 4])) + "."
    if kind == 8:
        return f"There are {n} {plural(noun)} and {m} {plural(rng.choice(NOUNS))} on the {rng.choice(['table', 'hill', 'road', 'bed'])}."
    if kind == 9:
        return f"{name} and {rng.choice(NAMES)} like the {color} {plural(noun)}."
    if kind == 10:
        return f"Count with me: {' '.join(str(i) for i in range(n, n + rng.randint(3, 6)))}."
    return f"The {size} {noun} is {color}."


def prose_document(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


# ---- chat conversations of other tasks ---------------------------------------------------------

CHAT_TASKS = ["repeat", "first word", "last word", "word before", "word after", "count", "add",
              "sentence", "greeting", "plural"]


def chat_turn(rng: random.Random, kind: int | None = None) -> tuple[str, str]:
    """One (user, assistant) exchange of a task other than list reversal (CHAT_TASKS[kind])."""
    kind = rng.randrange(len(CHAT_TASKS)) if kind is None else kind
    items = word_list(rng, 2, 7)
    listed = " ".join(items)
    if kind == 0:
        return f"Repeat these words: {listed}", listed
    if kind == 1:
        return f"What is the first word? {listed}", items[0]
    if kind == 2:
        return f"What is the last word? {listed}", items[-1]
    if kind == 3:
        i = rng.randrange(1, len(items))
        return f"Which word comes before {items[i]}? {listed}", items[i - 1]
    if kind == 4:
        i = rng.randrange(0, len(items) - 1)
        return f"Which word comes after {items[i]}? {listed}", items[i + 1]
    if kind == 5:
        return f"How many words are there? {listed}", str(len(items))
    if kind == 6:
        n, m = rng.randint(0, 9), rng.randint(0, 9)
        return f"What is {n} plus {m}?", str(n + m)
    if kind == 7:
        noun = rng.choice(NOUNS)
        return f"Make a sentence about {a_or_an(noun)} {noun}.", f"The {rng.choice(COLORS)} {noun} is in the {rng.choice(PLACES)}."
    if kind == 8:
        return rng.choice(["Say hello.", "Hello!", "Hi there."]), "Hello! How can I help you?"
    noun = rng.choice(NOUNS)
    return f"Write the plural of {noun}.", plural(noun)


Chat = list[tuple[str, str]]  # (role, content) messages


def chatml(messages: Chat) -> str:
    """The same text the model's chat_template renders (no generation prompt)."""
    return "".join(f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in messages)


def chat_document(rng: random.Random) -> Chat:
    messages: Chat = []
    for _ in range(1 if rng.random() < 0.75 else 2):
        user, assistant = chat_turn(rng)
        messages += [("user", user), ("assistant", assistant)]
    return messages


def pretraining_documents(seed: int, count: int, chat_share: float = 0.7) -> list[str | Chat]:
    """Prose (a string) or a conversation (messages); the packer ends each with <|endoftext|>."""
    rng = random.Random(seed)
    return [chat_document(rng) if rng.random() < chat_share else prose_document(rng) for _ in range(count)]


def document_text(doc: str | Chat) -> str:
    return doc if isinstance(doc, str) else chatml(doc)


# ---- the companion task: reverse a list of words ----------------------------------------------

TASK_PROMPT = "Reverse the order of these words: "


def task_example(items: list[str]) -> dict:
    return {"messages": [
        {"role": "user", "content": TASK_PROMPT + " ".join(items)},
        {"role": "assistant", "content": " ".join(reversed(items))},
    ]}


def task_splits(seed: int, n_train: int, n_test: int, lo: int = 3, hi: int = 6) -> tuple[list[dict], list[dict]]:
    """Train and held-out test rows; no word list appears twice or in both splits."""
    rng = random.Random(seed)
    seen: set[tuple[str, ...]] = set()
    lists: list[list[str]] = []
    while len(lists) < n_train + n_test:
        items = word_list(rng, lo, hi)
        if tuple(items) not in seen:
            seen.add(tuple(items))
            lists.append(items)
    return [task_example(x) for x in lists[:n_train]], [task_example(x) for x in lists[n_train:]]
