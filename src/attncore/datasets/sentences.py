"""Short Korean -> English sentences from templates: a realistic small parallel text to try attncore on.

Dates, prices, times, phone numbers, counts, likes, homes and the weather,
with Hangul particles that follow the word before them (을/를, 은/는, 이/가),
punctuation attached to words, capitalized names and mixed-case brand names.
Every slot is drawn independently, so a held-out row's combination of numbers
and words is almost never one of the training rows'.

``sentence_pairs(count, seed)`` gives distinct (Korean, English) pairs;
``write_sentence_file(path, ...)`` writes them as a user's file often is: a
byte-order mark, CRLF line ends, a blank line now and then, and runs of spaces.
"""

from __future__ import annotations

import random
from pathlib import Path

from .._files import write_atomic

__all__ = ["sentence_pairs", "write_sentence_file"]

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_FOODS = [
    ("커피", "coffee"),
    ("녹차", "green tea"),
    ("김치", "kimchi"),
    ("비빔밥", "bibimbap"),
    ("사과", "apples"),
    ("라면", "ramen"),
    ("빵", "bread"),
    ("우유", "milk"),
    ("떡볶이", "tteokbokki"),
    ("딸기", "strawberries"),
    ("냉면", "cold noodles"),
    ("치킨", "fried chicken"),
    ("수박", "watermelon"),
    ("초콜릿", "chocolate"),
]
_NAMES = [
    ("민수", "Minsu"),
    ("지영", "Jiyoung"),
    ("서준", "Seojun"),
    ("하은", "Haeun"),
    ("도윤", "Doyun"),
    ("수아", "Sua"),
    ("현우", "Hyunwoo"),
    ("지민", "Jimin"),
    ("영희", "Younghee"),
    ("철수", "Cheolsu"),
    ("유진", "Yujin"),
    ("태민", "Taemin"),
]
_CITIES = [
    ("서울", "Seoul"),
    ("부산", "Busan"),
    ("대구", "Daegu"),
    ("인천", "Incheon"),
    ("광주", "Gwangju"),
    ("대전", "Daejeon"),
    ("울산", "Ulsan"),
    ("제주", "Jeju"),
    ("수원", "Suwon"),
    ("전주", "Jeonju"),
    ("도쿄", "Tokyo"),
    ("런던", "London"),
]
_PLACES = [
    ("도서관", "library"),
    ("공원", "park"),
    ("시장", "market"),
    ("학교", "school"),
    ("병원", "hospital"),
    ("박물관", "museum"),
    ("식당", "restaurant"),
    ("바다", "beach"),
]
_ITEMS = [
    ("iPhone", "iPhone"),
    ("Galaxy", "Galaxy"),
    ("MacBook", "MacBook"),
    ("TV", "TV"),
    ("가방", "bag"),
    ("우산", "umbrella"),
    ("시계", "watch"),
    ("모자", "hat"),
    ("PlayStation", "PlayStation"),
    ("USB", "USB stick"),
    ("책", "book"),
    ("의자", "chair"),
]
_WEATHER = [
    ("맑아요", "sunny"),
    ("흐려요", "cloudy"),
    ("비가 와요", "rainy"),
    ("눈이 와요", "snowy"),
    ("추워요", "cold"),
    ("더워요", "hot"),
    ("바람이 불어요", "windy"),
]
_TRANSPORT = [("기차", "train"), ("버스", "bus"), ("비행기", "plane"), ("KTX", "KTX"), ("배", "ferry")]


def _batchim(word: str) -> bool:
    """Whether the word ends in a consonant (Hangul: a final jamo; Latin letters and digits read aloud)."""
    last = word[-1]
    if "\uac00" <= last <= "\ud7a3":
        return (ord(last) - 0xAC00) % 28 != 0
    return last.lower() in "lmnbkp0136789"


def _particle(word: str, after_consonant: str, after_vowel: str) -> str:
    return word + (after_consonant if _batchim(word) else after_vowel)


def _price(rng: random.Random) -> int:
    return rng.choice([rng.randrange(1, 100) * 100, rng.randrange(1, 200) * 500, rng.randrange(1, 100) * 1000])


def _pair(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(11)
    name, name_en = rng.choice(_NAMES)
    city, city_en = rng.choice(_CITIES)
    if kind == 0:
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        return f"오늘은 {month}월 {day}일입니다.", f"Today is {_MONTHS[month - 1]} {day}."
    if kind == 1:
        item, item_en = rng.choice(_ITEMS)
        price = _price(rng)
        return f"이 {_particle(item, '은', '는')} {price:,}원입니다.", f"This {item_en} costs {price:,} won."
    if kind == 2:
        hour, minute = rng.randint(1, 12), rng.randrange(60)
        return f"지금은 {hour}시 {minute}분이에요.", f"It is {hour}:{minute:02d} now."
    if kind == 3:
        food, food_en = rng.choice(_FOODS)
        return f"{_particle(name, '은', '는')} {_particle(food, '을', '를')} 좋아해요.", f"{name_en} likes {food_en}."
    if kind == 4:
        return f"{_particle(name, '은', '는')} {city}에 살아요.", f"{name_en} lives in {city_en}."
    if kind == 5:
        phone = f"010-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
        return f"{name}의 전화번호는 {phone}입니다.", f"{name_en}'s phone number is {phone}."
    if kind == 6:
        vehicle, vehicle_en = rng.choice(_TRANSPORT)
        hour = rng.randint(1, 12)
        return (
            f"{city}행 {_particle(vehicle, '은', '는')} {hour}시에 출발합니다.",
            f"The {vehicle_en} to {city_en} leaves at {hour} o'clock.",
        )
    if kind == 7:
        count, (place, place_en) = rng.randint(2, 60), rng.choice(_PLACES)
        return f"{count}명이 {place}에 갔어요.", f"{count} people went to the {place_en}."
    if kind == 8:
        weather, weather_en = rng.choice(_WEATHER)
        return f"내일 {city}의 날씨는 {weather}.", f"Tomorrow it will be {weather_en} in {city_en}."
    if kind == 9:
        item, item_en = rng.choice(_ITEMS)
        return (
            f"{_particle(name, '이', '가')} {_particle(item, '을', '를')} 샀어요?",
            f"Did {name_en} buy the {item_en}?",
        )
    food, food_en = rng.choice(_FOODS)
    count = rng.randint(2, 9)
    return f"{food} {count}개 주세요!", f"{count} {food_en}, please!"


def sentence_pairs(
    count: int = 3000, seed: int = 0, exclude: set[tuple[str, str]] | frozenset = frozenset()
) -> list[tuple[str, str]]:
    """``count`` distinct (Korean, English) pairs drawn with ``random.Random(seed)``, none in ``exclude``."""
    rng = random.Random(seed)
    seen, pairs = set(exclude), list[tuple[str, str]]()
    for _ in range(100 * count + 1000):
        if len(pairs) == count:
            return pairs
        pair = _pair(rng)
        if pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    raise ValueError(f"the templates give fewer than {count} distinct pairs")


def write_sentence_file(path: str | Path, pairs: list[tuple[str, str]], seed: int = 0) -> None:
    """``pairs`` as a tab-separated UTF-8 file with a byte-order mark and CRLF line ends, a blank line about
    every 100 rows and now and then a run of spaces inside a sentence."""
    rng = random.Random(seed)
    lines = []
    for korean, english in pairs:
        if rng.random() < 0.01:
            lines.append("")
        if rng.random() < 0.02:
            korean = korean.replace(" ", "  ", 1)
        lines.append(f"{korean}\t{english}")
    write_atomic(path, ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
