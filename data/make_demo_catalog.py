"""Write data/demo-catalog.csv: a fictional Shopify catalog for "Fernhill & Co." (CC0).

Deterministic: the same script always writes the same bytes. Descriptions are assembled from
hand-written sentence banks per product type, so each one names the product's real material, colours,
sizes and care, in one recognisable voice (short, warm sentences; a short sign-off line).
Run: python data/make_demo_catalog.py [OUT]
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

SEED = 2026
BRAND = "Fernhill & Co."
CDN = "https://cdn.example.com/fernhill"

HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Qty",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "SEO Title",
    "SEO Description",
    "Cost per item",
    "Status",
    "Material (product.metafields.custom.material)",
    "Care (product.metafields.custom.care)",
    "Origin (product.metafields.custom.origin)",
]

SIGN_OFFS = [
    "Made to be used. Made to last.",
    "Good things, made slowly.",
    "From our hill to your home.",
    "Use it well. Keep it long.",
    "Made slowly, kept for years.",
]

NAMES = [
    "Bramble",
    "Harrow",
    "Kestrel",
    "Ridgeway",
    "Tarn",
    "Hollin",
    "Wren",
    "Cairn",
    "Beck",
    "Fell",
    "Heron",
    "Larch",
    "Sorrel",
    "Thistle",
    "Alder",
    "Rowan",
    "Hazel",
    "Marram",
    "Ember",
    "Fieldfare",
    "Linnet",
    "Shale",
    "Ghyll",
    "Burnside",
    "Holloway",
    "Juniper",
    "Bracken",
    "Curlew",
    "Dunlin",
    "Elder",
    "Foxglove",
    "Gorse",
    "Hawthorn",
    "Ivy",
    "Kittiwake",
    "Lapwing",
    "Merlin",
    "Nettle",
    "Oakmoss",
    "Pennine",
    "Quarry",
    "Redwing",
    "Saltmarsh",
    "Teasel",
    "Upland",
    "Vetch",
    "Willow",
    "Yarrow",
    "Birch",
    "Clover",
    "Drystone",
    "Eskdale",
    "Fallow",
    "Greystone",
    "Heather",
    "Inglenook",
    "Lowther",
    "Millstone",
    "Northfell",
    "Orchard",
    "Peat",
    "Riverbank",
    "Stile",
    "Thornby",
]

# One entry per product type. Options: ("Colour", [...]) / ("Size", [...]); the generator samples
# a few values so variant counts stay small (1-6 rows).
TYPES: dict[str, dict] = {
    "blanket": {
        "type": "Blanket",
        "noun": "throw",
        "title": "{name} Wool Throw",
        "count": 10,
        "price": (89, 149),
        "grams": 1400,
        "category": "Home & Garden > Linens & Bedding > Bedding > Blankets",
        "materials": ["pure new wool", "lambswool", "recycled wool", "merino wool"],
        "origin": "Woven in West Yorkshire, UK",
        "care": "Air outdoors, spot clean, dry clean only",
        "colours": ["Moss", "Oat", "Slate", "Rust", "Heather", "Charcoal", "Sea Green", "Mustard"],
        "sizes": ["130 x 180 cm", "150 x 200 cm", "200 x 230 cm"],
        "openers": [
            "A heavy {noun} for cold evenings and open windows.",
            "Pull it over your knees when the fire is low.",
            "This {noun} smells faintly of the mill for a week. Then it smells of home.",
            "Throw it on the bed, the sofa or the back seat of the car.",
        ],
        "features": [
            "Fringed ends, knotted by hand",
            "Woven on our oldest loom",
            "Warm without weight",
            "Soft enough for bare arms",
        ],
        "care_lines": [
            (
                "Air it on the line instead of washing it. Spot clean small marks. Dry clean it only when "
                "you have to."
            ),
            "Wool cleans itself in fresh air. Hang it out, spot clean, and dry clean it rarely.",
        ],
    },
    "picnic": {
        "type": "Picnic Blanket",
        "noun": "picnic blanket",
        "title": "{name} Picnic Blanket",
        "count": 5,
        "price": (75, 95),
        "grams": 1600,
        "category": "Home & Garden > Lawn & Garden > Outdoor Living > Outdoor Blankets",
        "materials": ["recycled wool with a waterproof backing"],
        "origin": "Woven in West Yorkshire, UK",
        "care": "Shake out, wipe the backing, spot clean the wool",
        "colours": ["Tartan Green", "Tartan Red", "Navy Check", "Ochre Check"],
        "sizes": ["140 x 180 cm", "180 x 200 cm"],
        "openers": [
            "Damp grass is no reason to stay in.",
            "Roll it up, buckle the strap and go.",
            "Made for beaches, fields and the odd football match.",
        ],
        "features": [
            "Leather carry strap",
            "Backing stops the damp coming through",
            "Rolls small, opens big",
        ],
        "care_lines": [
            "Shake the crumbs out and wipe the backing clean. Spot clean the wool side.",
            "Give it a good shake, wipe the underside, and spot clean the top.",
        ],
    },
    "socks": {
        "type": "Socks",
        "noun": "socks",
        "plural": True,
        "title": "{name} Walking Socks",
        "count": 10,
        "price": (16, 22),
        "grams": 90,
        "category": "Apparel & Accessories > Clothing > Underwear & Socks > Socks",
        "materials": ["merino wool blend (70% merino, 27% nylon, 3% elastane)", "British wool blend"],
        "origin": "Knitted in Leicestershire, UK",
        "care": "Machine wash 30°C, dry flat",
        "colours": ["Forest", "Stone", "Navy", "Ochre", "Berry", "Grey Marl"],
        "sizes": ["S (UK 3-5)", "M (UK 6-8)", "L (UK 9-11)"],
        "openers": [
            "Good {noun} for long days and wet stiles.",
            "Your boots will thank you.",
            "Thick where you need it. Thin where you don't.",
            "Warm feet change a whole walk.",
        ],
        "features": [
            "Cushioned heel and toe",
            "No seam across the toes",
            "Stays up without pinching",
            "Reinforced heel",
        ],
        "care_lines": [
            "Wash them at 30 degrees and dry them flat. Skip the tumble dryer.",
            "Machine wash at 30. Dry them flat, away from the radiator.",
        ],
    },
    "scarf": {
        "type": "Scarf",
        "noun": "scarf",
        "title": "{name} Scarf",
        "count": 8,
        "price": (45, 79),
        "grams": 220,
        "category": "Apparel & Accessories > Clothing Accessories > Scarves & Shawls > Scarves",
        "materials": ["lambswool", "alpaca blend", "merino wool", "brushed lambswool"],
        "origin": "Woven in the Scottish Borders, UK",
        "care": "Hand wash cold, dry flat",
        "colours": ["Damson", "Moss", "Oat", "Slate", "Rust", "Cornflower", "Camel"],
        "sizes": [],
        "openers": [
            "Wrap it twice and turn your collar up.",
            "The wind on the tops has met its match.",
            "A {noun} soft enough to wear right against your neck.",
            "Light, warm and a little bit fluffy.",
        ],
        "features": ["Long enough to wrap twice", "Short tassels", "Brushed by hand with teasels", "No itch"],
        "care_lines": [
            "Hand wash it in cold water and dry it flat. It rarely needs it.",
            "Wash by hand, cold. Press out the water and dry it flat.",
        ],
    },
    "beanie": {
        "type": "Hat",
        "noun": "beanie",
        "title": "{name} Rib Beanie",
        "count": 7,
        "price": (28, 35),
        "grams": 80,
        "category": "Apparel & Accessories > Clothing Accessories > Hats",
        "materials": ["merino wool", "lambswool", "recycled wool blend"],
        "origin": "Knitted in Leicestershire, UK",
        "care": "Hand wash cold, dry flat",
        "colours": ["Orange", "Forest", "Navy", "Oat", "Charcoal", "Pink"],
        "sizes": [],
        "openers": [
            "A deep rib {noun} that stays put in a gale.",
            "Fold the cuff once, or twice for cold ears.",
            "The hat you reach for without thinking.",
        ],
        "features": ["Deep turn-up cuff", "One size, generous stretch", "Woven label, no bobble"],
        "care_lines": [
            "Hand wash it cold and dry it flat. Reshape it while damp.",
            "Wash by hand in cool water. Dry flat and it keeps its shape.",
        ],
    },
    "mittens": {
        "type": "Gloves",
        "noun": "mittens",
        "plural": True,
        "title": "{name} Felted Mittens",
        "count": 5,
        "price": (32, 42),
        "grams": 120,
        "category": "Apparel & Accessories > Clothing Accessories > Gloves & Mittens",
        "materials": ["felted wool with a fleece lining", "boiled wool"],
        "origin": "Made in Cumbria, UK",
        "care": "Hand wash cold, dry flat",
        "colours": ["Charcoal", "Red", "Oat", "Bottle Green"],
        "sizes": ["S/M", "M/L"],
        "openers": [
            "Warm hands for scraping windscreens.",
            "Felted so tight the wind can't find a way in.",
            "Thick {noun} for frosty mornings.",
        ],
        "features": ["Long cuff tucks into a coat", "Soft lining", "Loop to hang them by the door"],
        "care_lines": [
            "Hand wash in cold water and dry flat. Hot water will shrink them.",
            "Wash them cold, by hand. Dry flat, never on the radiator.",
        ],
    },
    "mug": {
        "type": "Mug",
        "noun": "mug",
        "title": "{name} Stoneware Mug",
        "count": 9,
        "price": (18, 26),
        "grams": 420,
        "category": "Home & Garden > Kitchen & Dining > Tableware > Drinkware > Mugs",
        "materials": ["stoneware"],
        "origin": "Thrown in Stoke-on-Trent, UK",
        "care": "Dishwasher and microwave safe",
        "colours": ["Speckled Oat", "Deep Blue", "Moss Glaze", "Charcoal", "Sand"],
        "sizes": ["300 ml", "400 ml"],
        "openers": [
            "A heavy {noun} that warms your hands first.",
            "Big enough for a proper brew.",
            "Every glaze runs a little differently, so no two are quite the same.",
        ],
        "features": ["Wide handle fits four fingers", "Raw clay foot", "Glazed inside and out"],
        "care_lines": [
            "It goes in the dishwasher and the microwave.",
            "Dishwasher safe. Microwave safe. Drop safe it is not.",
        ],
    },
    "enamel": {
        "type": "Mug",
        "noun": "camp mug",
        "title": "{name} Enamel Camp Mug",
        "count": 5,
        "price": (14, 18),
        "grams": 180,
        "category": "Sporting Goods > Outdoor Recreation > Camping & Hiking > Camp Kitchen",
        "materials": ["enamelled steel"],
        "origin": "Made in Poland",
        "care": "Hand wash, not for the microwave",
        "colours": ["White", "Green", "Blue", "Cream"],
        "sizes": [],
        "openers": [
            "Tea tastes better outdoors. This {noun} proves it.",
            "Light enough for the rucksack, tough enough for the campfire.",
        ],
        "features": ["Rolled steel rim", "Holds 350 ml", "Safe on a camp stove"],
        "care_lines": [
            "Wash it by hand. Keep it out of the microwave.",
            "Hand wash only, and never in the microwave.",
        ],
    },
    "bag": {
        "type": "Bag",
        "noun": "bag",
        "title": "{name} Canvas Tote",
        "count": 9,
        "price": (38, 95),
        "grams": 650,
        "category": "Apparel & Accessories > Handbags, Wallets & Cases > Handbags > Tote Handbags",
        "materials": [
            "waxed cotton canvas with leather handles",
            "heavy cotton canvas",
            "recycled cotton canvas",
        ],
        "origin": "Sewn in Lancashire, UK",
        "care": "Wipe clean, re-wax once a year",
        "colours": ["Olive", "Navy", "Tan", "Black", "Natural"],
        "sizes": [],
        "openers": [
            "A {noun} for the market, the library and the walk home.",
            "Fill it with logs, shopping or a wet dog's towel.",
            "Stiff at first. Soft and creased after a year, the way it should be.",
        ],
        "features": ["Inside zip pocket", "Riveted handles", "Stands up on its own", "Brass hardware"],
        "care_lines": [
            "Wipe it clean with a damp cloth. Re-wax it once a year and it will outlive us all.",
            "Brush off the mud and wipe it down. A coat of wax each winter keeps it dry.",
        ],
    },
    "candle": {
        "type": "Candle",
        "noun": "candle",
        "title": "{name} Soy Candle",
        "count": 9,
        "price": (22, 34),
        "grams": 300,
        "category": "Home & Garden > Decor > Home Fragrances > Candles",
        "materials": ["soy wax with a cotton wick"],
        "origin": "Poured in Somerset, UK",
        "care": "Trim the wick to 5 mm, burn no more than 4 hours",
        "colours": [],
        "sizes": ["180 g", "300 g"],
        "scents": [
            "woodsmoke and cedar",
            "wild fig and moss",
            "bergamot and black tea",
            "pine and sea salt",
            "heather and honey",
            "rain on stone",
            "orange peel and clove",
            "fresh linen and mint",
            "bonfire and birch",
        ],
        "openers": [
            "Light it when the curtains are drawn.",
            "A slow, clean burn that fills a room.",
            "The smell of {scent} on a cold night.",
        ],
        "features": ["Reusable glass jar", "No paraffin", "Burns for around 45 hours"],
        "care_lines": [
            "Trim the wick to 5 mm before each burn. Put it out after four hours.",
            "Keep the wick at 5 mm and burn it for four hours at most.",
        ],
    },
    "teatowel": {
        "type": "Tea Towel",
        "noun": "tea towel",
        "title": "{name} Linen Tea Towel",
        "count": 8,
        "price": (12, 16),
        "grams": 110,
        "category": "Home & Garden > Linens & Bedding > Towels > Kitchen Towels",
        "materials": ["pure linen", "linen and cotton blend"],
        "origin": "Woven in Northern Ireland, UK",
        "care": "Machine wash 40°C, tumble dry low",
        "colours": ["Red Stripe", "Blue Stripe", "Green Check", "Natural", "Ochre Stripe"],
        "sizes": [],
        "openers": [
            "Dries a glass without leaving fluff behind.",
            "It gets softer every time it goes through the wash.",
            "A {noun} that earns its hook by the sink.",
        ],
        "features": ["Hanging loop", "Hemmed edges", "Absorbent from the first wash"],
        "care_lines": [
            "Machine wash it at 40 and tumble dry on low.",
            "Wash at 40 degrees. A low tumble is fine.",
        ],
    },
    "cushion": {
        "type": "Cushion",
        "noun": "cushion cover",
        "title": "{name} Cushion Cover",
        "count": 8,
        "price": (35, 49),
        "grams": 300,
        "category": "Home & Garden > Decor > Throw Pillows",
        "materials": ["washed linen", "pure new wool", "wool and cotton blend"],
        "origin": "Sewn in Lancashire, UK",
        "care": "Machine wash 30°C, cover only",
        "colours": ["Clay", "Moss", "Oat", "Ink", "Rust"],
        "sizes": ["45 x 45 cm", "50 x 50 cm", "30 x 50 cm"],
        "openers": [
            "A {noun} that softens a hard chair.",
            "Plump it, punch it, lean on it.",
            "Texture you notice with your hands before your eyes.",
        ],
        "features": ["Hidden zip", "Piped edge", "Pad sold separately"],
        "care_lines": [
            "Take the cover off and machine wash it at 30.",
            "The cover goes in the machine at 30 degrees.",
        ],
    },
    "apron": {
        "type": "Apron",
        "noun": "apron",
        "title": "{name} Work Apron",
        "count": 4,
        "price": (42, 55),
        "grams": 380,
        "category": "Apparel & Accessories > Clothing > Uniforms > Chef's Aprons",
        "materials": ["heavy linen", "cotton canvas"],
        "origin": "Sewn in Lancashire, UK",
        "care": "Machine wash 40°C, line dry",
        "colours": ["Natural", "Charcoal", "Indigo"],
        "sizes": [],
        "openers": [
            "For the kitchen, the potting shed and the workbench.",
            "Cross-back straps, so your neck doesn't ache by lunchtime.",
        ],
        "features": ["Two deep front pockets", "Adjustable cross-back straps", "Loop for a tea towel"],
        "care_lines": ["Machine wash at 40 and dry it on the line.", "Wash at 40 degrees. Line dry it."],
    },
    "bottle": {
        "type": "Hot Water Bottle",
        "noun": "hot water bottle",
        "title": "{name} Knitted Hot Water Bottle",
        "count": 3,
        "price": (30, 36),
        "grams": 450,
        "category": "Health & Beauty > Health Care > Hot & Cold Therapies > Heating Pads",
        "materials": ["merino wool cover with a natural rubber bottle"],
        "origin": "Knitted in Leicestershire, UK",
        "care": "Hand wash the cover cold",
        "colours": ["Oat", "Heather", "Rust"],
        "sizes": [],
        "openers": ["Cold sheets, meet your match.", "A {noun} in a soft cable jumper."],
        "features": ["2 litre natural rubber bottle", "Cover slips off", "Cable knit"],
        "care_lines": ["Slip the cover off and hand wash it cold.", "Hand wash the cover in cold water."],
    },
}

MATERIAL_LINES = [
    "{It} {is} made from {material}.",
    "We make {it} from {material}.",
    "{Material}, nothing fancy, nothing added.",
    "Made from {material} that feels good in the hand.",
    "{The_noun} {is} {material} through and through.",
    "{Material}, chosen because it lasts.",
    "The material is {material}, and you can feel it.",
]
COLOUR_LINES = [
    "{It} come{s} in {colours}.",
    "Choose from {colours}.",
    "Pick from {colours}, or have one of each.",
    "Colours: {colours}.",
    "We dye {it} in {colours}.",
]
ONE_COLOUR_LINES = [
    "This one is {colours}.",
    "The colour is {colours}, like the hills in autumn.",
    "{It} come{s} in {colours} only.",
    "Colour: {colours}.",
]
SIZE_LINES = ["Sizes: {sizes}.", "There are {count} sizes: {sizes}.", "Pick your size: {sizes}."]
ORIGIN_LINES = ["{origin}.", "{origin}, by people we know by name.", "{origin}, a short drive from us."]
SENSES = [
    "You notice the weight first, then the warmth.",
    "{It} smell{s} faintly of the workshop when new.",
    "Rough at the edges in the best way.",
    "Honest work, plain to see.",
    "{It} feel{s} better the more you use {it}.",
    "Nothing about it is rushed.",
    "{It} age{s} well, like most good things.",
    "Small marks and creases are part of the charm.",
]


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_products(rng: random.Random) -> list[dict]:
    products = []
    for key, t in TYPES.items():
        # Names repeat across types (a "Wren" throw and a "Wren" mug) but never within one.
        for i, name in enumerate(rng.sample(NAMES, t["count"])):
            p = {"key": key, "t": t, "name": name, "title": t["title"].format(name=name)}
            p["material"] = rng.choice(t["materials"])
            p["scent"] = t["scents"][i % len(t["scents"])] if "scents" in t else ""
            if p["scent"]:
                p["title"] = f"{name} Soy Candle, {p['scent'].title().replace(' And ', ' & ')}"
            shape = rng.random()
            colours = (
                rng.sample(t["colours"], min(len(t["colours"]), rng.randint(1, 4))) if t["colours"] else []
            )
            sizes = t["sizes"][: rng.randint(2, len(t["sizes"]))] if t["sizes"] else []
            opts: dict[str, list[str]] = {}
            if sizes and colours and shape < 0.3:
                opts = {"Size": sizes[:2], "Colour": colours[:2]}
            elif sizes and shape < 0.7:
                opts = {"Size": sizes}
            elif len(colours) > 1 and shape < 0.85:
                opts = {"Colour": colours}
            if not opts and colours:
                opts = {"Colour": colours[:1]}  # one real variant still names its colour
            p["options"] = opts
            p["colours"] = opts.get("Colour", [])
            p["sizes"] = opts.get("Size", [])
            products.append(p)
    return products


def describe(p: dict, rng: random.Random) -> str:
    """One description in the house voice, 50-90 words, as Shopify HTML."""
    t = p["t"]
    plural = t.get("plural", False)
    fmt = {
        "noun": t["noun"],
        "material": p["material"],
        "Material": p["material"][0].upper() + p["material"][1:],
        "The_noun": f"The {t['noun']}",
        "scent": p["scent"],
        "origin": t["origin"],
        "It": "They" if plural else "It",
        "it": "them" if plural else "it",
        "is_": "are" if plural else "is",
        "s": "" if plural else "s",
    }
    fmt["is"] = fmt.pop("is_")
    target = rng.randint(50, 86)
    best: tuple[int, str] = (10**6, "")
    for _ in range(300):
        opener = rng.choice(t["openers"])
        first = [opener.format(**fmt)]
        if p["scent"] and "{scent}" not in opener:
            first.append(f"It smells of {p['scent']}.")
        first.append(rng.choice(MATERIAL_LINES).format(**fmt))
        if len(p["colours"]) > 1:
            first.append(rng.choice(COLOUR_LINES).format(colours=join_words(p["colours"]), **fmt))
        elif p["colours"]:
            first.append(rng.choice(ONE_COLOUR_LINES).format(colours=p["colours"][0], **fmt))
        if p["sizes"]:
            first.append(rng.choice(SIZE_LINES).format(sizes=join_words(p["sizes"]), count=len(p["sizes"])))
        if rng.random() < 0.6:
            first.append(rng.choice(ORIGIN_LINES).format(**fmt))
        if rng.random() < 0.5:
            first.insert(1, rng.choice(SENSES + t.get("extra", [])).format(**fmt))
        bullets = (
            rng.sample(t["features"], rng.randint(2, min(4, len(t["features"]))))
            if rng.random() < 0.4
            else []
        )
        last = [rng.choice(t["care_lines"]).format(**fmt), rng.choice(SIGN_OFFS)]
        html = "<p>" + " ".join(first) + "</p>"
        if bullets:
            html += "<ul>" + "".join(f"<li>{b}</li>" for b in bullets) + "</ul>"
        html += "<p>" + " ".join(last) + "</p>"
        words = len(" ".join(first + bullets + last).split())
        score = abs(words - target) if 50 <= words <= 90 else 1000 + abs(words - target)
        best = min(best, (score, html))
        if score <= 3:
            break
    return best[1]


def rows_for(p: dict, idx: int, body: str, rng: random.Random) -> list[dict]:
    t = p["t"]
    handle = p["title"].split(",")[0].lower().replace(" ", "-")
    price = rng.randint(*t["price"]) + rng.choice([0, 0.5])
    combos: list[list[tuple[str, str]]] = [[]]
    for name, values in p["options"].items():
        combos = [c + [(name, v)] for c in combos for v in values]
    fibre = next(
        (
            w
            for w in ("merino", "alpaca", "lambswool", "wool", "linen", "canvas", "stoneware", "soy", "steel")
            if w in p["material"]
        ),
        "",
    )
    tags = ", ".join(
        x
        for x in [t["type"].lower(), fibre, rng.choice(["gift", "winter", "outdoors", "home", "bestseller"])]
        if x
    )
    draft = idx % 17 == 5
    rows = []
    for n, combo in enumerate(combos):
        r = {h: "" for h in HEADER}
        r["Handle"] = handle
        if n == 0:
            seo = f"{p['title']} in {join_words(p['colours'])}" if p["colours"] else p["title"]
            r.update(
                {
                    "Title": p["title"],
                    "Body (HTML)": body,
                    "Vendor": BRAND,
                    "Product Category": t["category"],
                    "Type": t["type"],
                    "Tags": tags,
                    "Published": "FALSE" if draft else "TRUE",
                    "Image Src": f"{CDN}/{handle}-1.jpg",
                    "Image Position": "1",
                    "Image Alt Text": f"{p['title']} by {BRAND}",
                    "SEO Title": f"{p['title']} | {BRAND}",
                    "SEO Description": f"{seo}. {p['material'][0].upper() + p['material'][1:]}.",
                    "Status": "draft" if draft else "active",
                    "Material (product.metafields.custom.material)": p["material"],
                    "Care (product.metafields.custom.care)": t["care"],
                    "Origin (product.metafields.custom.origin)": t["origin"],
                }
            )
        names = combo or [("Title", "Default Title")]
        for k, (oname, oval) in enumerate(names, start=1):
            if n == 0:
                r[f"Option{k} Name"] = oname
            r[f"Option{k} Value"] = oval
        step = 1 + (n if any(o == "Size" for o, _ in combo) else 0) * 0.15
        sku_tail = "-".join("".join(ch for ch in v if ch.isalnum())[:3].upper() for _, v in combo) or "OS"
        r.update(
            {
                "Variant SKU": f"FH-{idx:03d}-{sku_tail}",
                "Variant Grams": str(int(t["grams"] * step)),
                "Variant Inventory Qty": str(rng.randint(0, 60)),
                "Variant Price": f"{price * step:.2f}",
                "Variant Compare At Price": f"{price * step * 1.2:.2f}" if idx % 11 == 3 else "",
                "Variant Barcode": f"50{idx:03d}{n:02d}{rng.randint(100000, 999999)}",
                "Cost per item": f"{price * step * 0.42:.2f}",
            }
        )
        rows.append(r)
    for extra in range(2, 2 + (idx % 4 == 1) + (idx % 9 == 2)):
        r = {h: "" for h in HEADER}
        r.update(
            {
                "Handle": handle,
                "Image Src": f"{CDN}/{handle}-{extra}.jpg",
                "Image Position": str(extra),
                "Image Alt Text": f"{p['title']}, detail",
            }
        )
        rows.append(r)
    return rows


def main(out: Path) -> None:
    rng = random.Random(SEED)
    products = build_products(rng)
    rng.shuffle(products)
    # Near duplicates: a few "twin pack"/"gift" listings reuse their sibling's text almost verbatim,
    # as real shops do; a group-aware split must keep each pair on one side.
    twins = {
        3: ("Two Pack", "Two of them, for a little less."),
        27: ("Gift Box", "It comes boxed, ready to give."),
        58: ("Seconds", "A small flaw in the finish, so a kinder price."),
    }
    empty = set(range(4, 100, 5))  # 20 products with no description: the ones the tool will write
    placeholder = {41}  # a stub text that is not a usable reference
    bodies: dict[int, str] = {}
    all_rows = []
    for idx, p in enumerate(products, start=1):
        body = describe(p, rng)
        if idx - 1 in twins and idx - 2 in bodies:
            src = products[idx - 2]
            p.update(
                t=src["t"],
                material=src["material"],
                scent=src["scent"],
                options=src["options"],
                colours=src["colours"],
                sizes=src["sizes"],
                title=f"{src['title'].split(',')[0]} {twins[idx - 1][0]}",
                key=src["key"],
            )
            body = bodies[idx - 2].replace("</p>", f" {twins[idx - 1][1]}</p>", 1)
        bodies[idx - 1] = body
        if idx - 1 in empty:
            body = ""
        elif idx - 1 in placeholder:
            body = "<p>Description coming soon.</p>"
        all_rows.extend(rows_for(p, idx, body, rng))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER)
        w.writeheader()
        w.writerows(all_rows)
    tmp.replace(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("demo-catalog.csv"))
