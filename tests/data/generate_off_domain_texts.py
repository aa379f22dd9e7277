"""Generate ``off_domain_texts.jsonl``: short non-essay texts (no downloads, hand-written parts).

Drift tests need traffic of a clearly different genre from the essay corpus: chat messages,
questions and answers, news sentences, product reviews, sports results, weather and support
messages. Each genre combines hand-written templates with hand-written fillers, so a few hundred
distinct texts come out of a few dozen lines. Deterministic (fixed seed); run from the repo root:
``python tests/data/generate_off_domain_texts.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUTPUT = Path(__file__).with_name("off_domain_texts.jsonl")
PER_GENRE = 60

NAMES = ["Sam", "Priya", "Jo", "Mateo", "Aiko", "Dee", "Tom", "Lena", "Chris", "Ngozi"]
PLACES = ["Lisbon", "Osaka", "Denver", "Nairobi", "Leeds", "Quebec", "Perth", "Austin"]
TEAMS = ["Rovers", "United", "Hawks", "Tigers", "Wolves", "Sharks", "Comets", "Rangers"]
PRODUCTS = ["blender", "headphones", "phone case", "desk lamp", "kettle", "backpack", "router"]
THINGS = ["pizza", "the bus", "my charger", "the wifi", "tickets", "the game", "lunch", "coffee"]

GENRES: dict[str, list[str]] = {
    "chat": [
        "hey {name} r u coming 2nite?? 😂",
        "lol {name} forgot {thing} again smh",
        "omw!! 5 min, grab {thing} pls",
        "brb {thing} 🍕🍕",
        "ok ok {name}, c u @ {hour}pm :)",
        "did u see that?!? 😱 #{team}",
        "k thx. ttyl",
        "who took {thing}??? not cool {name} >:(",
        "gm!!! ☕ {thing} first",
        "ugh {thing} is down AGAIN... 3rd time today",
    ],
    "qa": [
        "Q: How do I reset my {product}? A: Hold the power button for {n} seconds.",
        "Q: What time does the {place} office open? A: {hour}:00 AM, Mon-Fri.",
        "Q: Is {thing} included? A: Yes, for orders over ${price}.",
        "Q: Can I return a {product} after {n} days? A: Only with the receipt.",
        "How many km from {place} to the airport? About {n} km, ~{n2} min by taxi.",
        "Q: Does the {product} work with 220V? A: Yes (110-240V).",
        "Where's the nearest pharmacy in {place}? 2 blocks north, open 24/7.",
        "Q: Why is my {product} blinking red? A: Low battery; charge it for {n} h.",
    ],
    "news": [
        "{place} council approves ${price}M budget for new tram line, vote 7-2.",
        "BREAKING: Power outage hits {n},000 homes in {place}; repairs under way.",
        "Stocks fell {pct}% on Tuesday as oil rose to ${price} a barrel.",
        "{place} airport to add {n} new routes from March, officials say.",
        "Police in {place} seek witnesses after crash on Route {n} (no injuries).",
        "Heatwave: {place} hits {temp}°C, the hottest day since 19{n2}.",
        "Tech firm cuts {n}00 jobs, shares up {pct}% in early trading.",
    ],
    "review": [
        "★★★★☆ {product} works great, battery lasts ~{n}h. Shipping was slow tho.",
        "1/5. {product} broke after {n} days!!! DO NOT BUY.",
        "Good value for ${price}. The {product} is a bit loud but ok.",
        "Arrived in {n} days, well packed. 10/10 would buy again 👍",
        "meh. {product} looks cheap irl, returned it.",
        "Update ({n} weeks later): still works, no complaints. 4.5 stars.",
    ],
    "sports": [
        "FT: {team} {g1}-{g2} {team2}. {name} scored twice (12', 78').",
        "{team} sign {name} on a {n}-year deal, fee undisclosed.",
        "HT {team} {g1}-{g2} {team2} | 54% possession, {n} shots",
        "{name} out for {n} weeks with a hamstring injury (club statement).",
        "Tonight 7:45pm: {team} vs {team2}, tickets from ${price}.",
    ],
    "weather": [
        "{place} forecast: {temp}°C, 60% chance of rain after {hour}pm. Wind NW {n} km/h.",
        "Weather alert for {place}: snow {n}-{n2} cm overnight, roads icy.",
        "Sunny, high {temp}, low {n}. UV index 8 - wear sunscreen!",
        "Fog advisory until {hour}:00 AM, visibility < 200 m near {place}.",
    ],
    "support": [
        "Ticket #{ticket}: {product} won't turn on after update v2.{n}.{n2}.",
        "Hi, order #{ticket} hasn't arrived yet (ordered {n} days ago). Pls advise.",
        "Your code is {ticket}. Do not share it. Expires in {n} min.",
        "Reminder: appointment w/ Dr. {name} on 0{n}/1{n2} at {hour}:30.",
        "Password reset requested for acct ending in {n}{n2}. Not you? Call 555-01{n}{n2}.",
    ],
}


def fill(template: str, rng: random.Random) -> str:
    team, team2 = rng.sample(TEAMS, 2)
    return template.format(
        name=rng.choice(NAMES),
        place=rng.choice(PLACES),
        team=team,
        team2=team2,
        product=rng.choice(PRODUCTS),
        thing=rng.choice(THINGS),
        hour=rng.randint(1, 11),
        n=rng.randint(2, 9),
        n2=rng.randint(2, 9),
        price=rng.choice([5, 12, 19, 49, 99, 120, 350]),
        pct=round(rng.uniform(0.5, 4.5), 1),
        temp=rng.randint(-8, 41),
        g1=rng.randint(0, 4),
        g2=rng.randint(0, 4),
        ticket=rng.randint(10000, 99999),
    )


def generate(seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for genre, templates in GENRES.items():
        seen: set[str] = set()
        attempts = 0
        while len(seen) < PER_GENRE and attempts < PER_GENRE * 50:
            attempts += 1
            text = fill(rng.choice(templates), rng)
            if text not in seen:
                seen.add(text)
                rows.append({"genre": genre, "text": text})
    rng.shuffle(rows)
    return rows


def main() -> None:
    rows = generate()
    with OUTPUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
