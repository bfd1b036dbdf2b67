"""Curated word lists for the faithfulness checks: materials, colours, sizes, units.

Only words that are claims about a product when they appear in its description. Ambiguous words are
left out on purpose ("down" is a direction, "felt" a verb, "jersey" a shirt, "orange" a fruit in a
food catalog), because a false "unsupported claim" costs a merchandiser more time than a missed one.
All entries are lower case single words; British spellings map to one canonical form via SYNONYMS.
"""

from __future__ import annotations


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


MATERIALS = _wordset("""
acetate acrylic alpaca aluminium aluminum angora bamboo beech birch brass bronze canvas cashmere
ceramic chiffon concrete copper cork corduroy cotton denim elastane fleece flannel gabardine glass
goatskin granite hemp jute lambskin latex leather linen lycra lyocell marble merino mesh microfiber
microfibre modal mohair neoprene nubuck nylon oak organza pewter pine plastic plywood polyamide
polycarbonate polyester polypropylene polyurethane porcelain pvc rattan rayon resin rubber sateen
satin sheepskin shearling silicone silk spandex steel stoneware suede taffeta teak tencel terracotta
titanium tweed twill velour velvet viscose walnut wicker wood wool zinc clay stone
""")

COLOURS = _wordset("""
amber aqua azure beige black blue bronze brown burgundy camel charcoal chocolate cobalt coral cream
crimson cyan emerald fuchsia gold gray green indigo ivory khaki lavender lilac magenta maroon
mauve mustard navy ochre pink plum purple red rust scarlet silver taupe teal turquoise violet white
yellow
""")

# Letter sizes are matched case-sensitively on the original text: "M" is a size, "m" a metre.
LETTER_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "2XL", "3XL", "4XL", "5XL")
SIZE_PHRASES = ("one size", "one-size", "plus size", "plus-size", "petite", "oversized")

# Spelling variants and brand names -> one canonical word, applied to both text and facts.
SYNONYMS = {
    "grey": "gray", "colour": "color", "aluminium": "aluminum", "microfibre": "microfiber",
    "elastane": "spandex", "lycra": "spandex", "polyamide": "nylon", "tencel": "lyocell",
    "fibre": "fiber",
}

# A specific material/shade in the facts also supports its family word in the text
# ("Merino" supports "wool"; "Navy" supports "blue").
FAMILY = {
    "merino": "wool", "cashmere": "wool", "lambskin": "leather", "goatskin": "leather",
    "sheepskin": "leather", "nubuck": "leather", "suede": "leather", "denim": "cotton",
    "navy": "blue", "cobalt": "blue", "azure": "blue", "indigo": "blue", "turquoise": "blue",
    "charcoal": "gray", "burgundy": "red", "crimson": "red", "scarlet": "red", "maroon": "red",
    "ivory": "white", "cream": "white", "beige": "brown", "camel": "brown", "khaki": "brown",
    "taupe": "brown", "chocolate": "brown", "emerald": "green", "teal": "green", "lilac": "purple",
    "lavender": "purple", "violet": "purple", "plum": "purple", "mauve": "purple", "fuchsia": "pink",
    "magenta": "pink", "coral": "pink", "mustard": "yellow", "ochre": "yellow", "amber": "yellow",
}

# Units after a number. Longer alternatives first so the regex prefers "mm" over "m".
UNITS = (
    "millimetres", "millimeters", "centimetres", "centimeters", "kilograms", "milliliters",
    "millilitres", "inches", "metres", "meters", "litres", "liters", "pounds", "ounces", "grams",
    "hours", "watts", "inch", "metre", "meter", "litre", "liter", "pound", "ounce", "gram", "hour",
    "years", "year", "days", "day", "pieces", "pcs", "pack", "mah", "kg", "mm", "cm", "ml", "oz",
    "lbs", "lb", "gb", "tb", "mb", "ghz", "mhz", "hz", "kw", "in", "ft", "m", "g", "l", "w", "v", "h",
    "gsm", "denier", "°c", "°f", "°", "degrees", "%",
)
# Spellings of one unit -> one name, so "40%" is not backed by "40°C" nor "300 g" by "300 ml".
UNIT_NAMES = {
    "mm": ("millimetres", "millimeters"), "cm": ("centimetres", "centimeters"), "m": ("metres", "meters", "metre",
    "meter"), "in": ("inches", "inch"), "g": ("grams", "gram"), "kg": ("kilograms", "kilos", "kilo"),
    "oz": ("ounces", "ounce"), "lb": ("pounds", "pound", "lbs"), "ml": ("millilitres", "milliliters"),
    "l": ("litres", "liters", "litre", "liter"), "h": ("hours", "hour"), "day": ("days",), "year": ("years",),
    "w": ("watts",), "pcs": ("pieces",), "°c": ("°", "degrees"),
}

# Scents and flavours: claims about a candle, soap or tea when the facts do not name them.
SCENTS = _wordset("""
bergamot cedarwood cedar sandalwood vanilla jasmine rose lavender patchouli vetiver eucalyptus peppermint
mint citrus lemon lime grapefruit neroli oud amber musk tobacco fig rosemary sage thyme basil geranium
ylang frankincense myrrh cinnamon clove ginger cardamom honey tonka pine juniper lemongrass chamomile
""")
SCENT_CUES = ("scent", "scented", "notes", "note", "smell", "smells", "fragrance", "aroma", "infused")

# Materials that only read as materials in a phrase ("soy wax", "coconut wax").
MATERIAL_PHRASES = ("soy wax", "soya wax", "coconut wax", "beeswax", "paraffin", "rapeseed wax", "cotton wick",
                    "wooden wick", "faux fur", "faux leather", "vegan leather", "memory foam", "down fill",
                    "goose down", "duck down", "full-grain", "full grain", "top-grain", "top grain")

# Certifications and eco claims: checkable statements a shop can be held to.
CERTIFICATIONS = (
    r"oeko[- ]?tex(?:\s+standard\s+100)?", r"gots", r"global organic textile standard", r"fair ?trade",
    r"fsc", r"pefc", r"b ?corp", r"bluesign", r"rws", r"responsible wool standard", r"grs",
    r"global recycled standard", r"cradle to cradle", r"soil association", r"leaping bunny",
    r"cruelty[- ]free", r"vegan", r"organic(?:ally)?", r"recycled", r"biodegradable", r"compostable",
    r"bpa[- ]free", r"non[- ]toxic", r"certified", r"accredited", r"approved", r"carbon[- ]neutral",
    r"plastic[- ]free", r"sustainab(?:le|ly|ility)", r"ethically", r"eco[- ]friendly", r"mulesing[- ]free",
    r"ce[- ]marked", r"ul[- ]listed", r"dermatologically tested", r"hypoallergenic",
)

# Care: each pattern is one instruction; it is backed when the facts carry its key words.
CARE = (
    r"machine[- ]wash(?:able|ed)?", r"hand[- ]wash(?:able|ed)?", r"wash(?:ed)?(?:\s+\w+,?){0,2}\s+by hand", r"wash(?:ed|es|ing)?\s+(?:it\s+)?(?:at|in|on|cold|warm|"
    r"once|twice|every|regularly|inside)", r"washable", r"tumble[- ]dr(?:y|ied)", r"dry[- ]clean(?:ed|ing)?",
    r"(?:dry|lay)\s+(?:it\s+)?flat", r"line[- ]dr(?:y|ied)", r"drip[- ]dry",
    r"(?:do not|don't|never)\s+(?:wash|tumble|iron|bleach|dry|wring|soak|machine)\w*",
    r"(?:can|may|should)\s+be\s+(?:machine[- ]|hand[- ])?washed",
    r"iron(?:ed|ing)?\s+(?:it\s+)?(?:on|at|inside|damp|low|medium|hot|cool|warm)", r"bleach", r"dishwasher[- ]?(?:safe|proof)?", r"microwave[- ]?(?:safe)?",
    r"oven[- ]?(?:safe|proof)", r"freezer[- ]?(?:safe)?", r"spot[- ]clean(?:ed)?", r"wipe(?:d)?\s+clean",
    r"air(?:ed)?\s+(?:it\s+)?(?:outdoors|out)", r"(?:re)?condition(?:ed|ing)?\s+(?:the\s+)?(?:leather|wood)",
    r"oil(?:ed)?\s+(?:it|the wood|occasionally)", r"trim\s+the\s+wick",
)
# How often it needs care is a claim of its own ("dry clean it rarely" beside "dry clean only"); matched
# apart from CARE so that "dry clean" does not hide "clean it rarely".
CARE_OFTEN = (
    r"(?:wash|clean|iron)\w*\s+(?:it\s+|them\s+)?(?:rarely|seldom|occasionally|often|weekly|daily)",
    r"(?:rarely|seldom|never|hardly ever)\s+(?:needs?|requires?)\s+(?:it|washing|cleaning|a wash)?",
    r"(?:does not|doesn't|do not|don't|won't|will not|never)\s+need(?:s)?\s+(?:to\s+be\s+)?(?:wash|clean|iron)\w*",
)
# Words inside a care phrase that say nothing about care: the rest must be in the facts.
CARE_FILLER = {"need", "needs", "to", "be", "a", "it", "at", "in", "on", "the", "do", "not", "don't", "never", "safe", "proof", "able", "ed", "out",
               "or", "and", "once", "twice", "every", "regularly", "inside", "cold", "warm", "them", "they",
               "these", "those", "gently", "only", "by"}

# A frequency or duration of use/care is a claim of its own ("wash once a year").
FREQUENCY = r"(?:once|twice|\w+ times)\s+(?:a|per|every)\s+(?:day|week|month|season|year)"

WARRANTY = (r"warrant(?:y|ies|ied)", r"guarantee[sd]?", r"lifetime", r"money[- ]back", r"free (?:returns|repairs?)",
            r"repair service", r"free shipping", r"free delivery")

# Who made it and how: backed by facts, title or the brand's house phrases only.
PROVENANCE = (
    r"hand[- ]?(?:made|crafted|poured|stitched|sewn|knitted|knit|woven|thrown|painted|dyed|finished|carved|"
    r"turned|blown|loomed|printed|built|picked|cut|tied|glazed|spun|rolled|forged|brushed|dyeing|weaving|"
    r"knitting|stitching|sewing|painting|carving|pouring|throwing|printing|finishing|spinning)", r"by hand",
    r"artisan(?:s|al)?", r"crafts(?:man|men|woman|women|people|person)", r"makers?", r"weavers?",
    r"potters?", r"tailors?", r"knitters?", r"designers", r"engineers", r"seamstress(?:es)?", r"blacksmiths?", r"carpenters?", r"(?:designed|made|crafted|created|built|sewn|woven|knitted|poured|thrown)\s+by\s+"
    r"(?:a|an|our|local|the|\w+'s)?\s*\w+", r"family[- ](?:run|owned|business|workshop)", r"small[- ]batch(?:es)?",
    r"locally", r"local (?:makers?|artisans?|crafts\w+|weavers?|potters?|workshops?|farms?|farmers?)",
    r"in our (?:own )?(?:studio|workshop|factory|mill|kitchen|atelier)", r"since \d{4}",
    r"(?:made|produced|crafted|knitted|woven|sewn)\s+in\s+(?:a|an|the)\s+(?:\w+\s+)?(?:factory|workshop|mill|studio|"
    r"atelier)", r"local (?:mills?|factor(?:y|ies)|studios?)",
    r"(?:generations?|decades|centuries) of", r"time[- ]honou?red",
)

# Named origin: "Made in Portugal", "Woven in the Scottish Borders"; the place must be in the facts.
ORIGIN_VERBS = ("made", "woven", "knitted", "knit", "sewn", "crafted", "produced", "manufactured", "thrown",
                "poured", "milled", "spun", "printed", "assembled", "built", "designed", "sourced", "grown",
                "tanned", "dyed", "finished", "fired", "blown", "roasted", "harvested", "distilled", "bottled")
NATIONALITIES = _wordset("""
british english scottish welsh irish italian french portuguese spanish german dutch belgian danish swedish
norwegian finnish icelandic swiss austrian polish greek turkish moroccan indian chinese japanese korean
vietnamese thai peruvian bolivian mexican american canadian australian egyptian mongolian nepalese
himalayan tibetan andean
""")

# Parts every product of a type has: "sleeves" on a hoodie or "a handle" on a mug state nothing new.
TYPE_PARTS = {
    "hoodie": "hood sleeve sleeves cuff cuffs hem", "sweatshirt": "sleeve sleeves cuff cuffs hem",
    "jacket": "sleeve sleeves collar cuff cuffs hem", "coat": "sleeve sleeves collar cuff cuffs hem",
    "tee": "sleeve sleeves neckline hem", "shirt": "sleeve sleeves collar cuff cuffs hem",
    "pullover": "sleeve sleeves cuff cuffs hem", "sweater": "sleeve sleeves cuff cuffs hem",
    "jumper": "sleeve sleeves cuff cuffs hem", "cardigan": "sleeve sleeves cuff cuffs hem",
    "pant": "waistband hem", "pants": "waistband hem", "leggings": "waistband", "short": "waistband hem",
    "shorts": "waistband hem", "mug": "handle handles", "tote": "handle handles strap straps",
    "bag": "handle handles strap straps", "socks": "heel toe toes", "candle": "wick", "apron": "strap straps",
}

# Physical features and technical properties a description may invent ("zip pockets", "waterproof").
FEATURES = _wordset("""
pocket pockets zip zips zipper zippers zipped zippered drawstring drawcord hood hooded cuff cuffs hem hems
collar sleeve sleeves lining lined waistband gusset seam seams panel panels insole outsole sole soles lace
laces handle handles lid lids spout wick wicks tassel tassels fringe pompom pompoms thumbhole thumbholes vent
vents logo embroidery embroidered applique buckle buckles button buttons buttoned snap snaps velcro toggle
toggles strap straps pleat pleats placket yoke darts fastening fastenings clasp hinge hinges compartment
compartments label labels bobble bobbles inseam neckline crewneck v-neck turtleneck mock-neck kangaroo ribbed rib
stitching piping trim hemline lanyard carabiner loop loops tab tabs bungee cord cords grommet grommets eyelets
""")
PROPERTIES = (
    r"water[- ]?(?:proof(?:ing|ed)?|resistant|repellent)", r"wind[- ]?(?:proof|resistant)", r"breathab(?:le|ility)",
    r"moisture[- ]wicking", r"wicking", r"sweat[- ]wicking", r"quick[- ]dry(?:ing)?", r"fast[- ]drying",
    r"odou?r[- ](?:resistant|control|free)", r"anti[- ]?(?:microbial|bacterial|pilling|odou?r|static|slip)",
    r"uv[- ]?(?:protection|resistant)?", r"upf\s*\d*", r"spf\s*\d*", r"insulat(?:ed|ion|ing)", r"padded",
    r"reversible", r"adjustable", r"removable", r"detachable", r"stretch(?:y|able)?", r"(?:two|four|2|4)[- ]way",
    r"wrinkle[- ](?:free|resistant)", r"non[- ]iron", r"stain[- ](?:resistant|proof)", r"fade[- ]resistant",
    r"shrink[- ](?:resistant|proof)", r"pre[- ]shrunk", r"reflective", r"reflectivity", r"compression",
    r"seamless", r"flatlock", r"thermal", r"fleece[- ]lined", r"(?:relaxed|slim|regular|loose|standard|"
    r"tailored|athletic|oversized|fitted|straight|skinny|classic) fit", r"non[- ]slip", r"shock[- ]absorb\w*",
    r"cushion(?:ed|ing)", r"[®™]",
    # construction and comfort promises a buyer can check
    r"ventilat\w*", r"(?:crew|scoop|boat|round|mock|cowl|funnel|v)[- ]?neck\w*", r"reinforc\w*", r"riveted", r"hemmed", r"glazed", r"embellish\w*", r"(?:no|non|never|won't|will not)[- ]itch\w*",
    r"itch[- ]free", r"(?:semi|close|form|body)[- ]fit(?:ted|ting)?", r"fitted",
    r"keeps?\s+(?:you|your\s+\w+)\s+(?:\w+\s+and\s+)?dry", r"breathes?\s+(?:easily|freely|well)",
    r"(?:protect\w*|shield\w*)\s+(?:\w+\s+){0,3}(?:from|against)\s+(?:the\s+)?(?:sun|uv)\w*",
    # accolades and press: checkable, and invented surprisingly often
    r"award[- ]winning", r"(?:featured|reviewed|praised) in", r"as seen (?:in|on)", r"best[- ]?selling",
    r"top[- ]rated", r"voted", r"#\s?1", r"number one",
    r"(?:world|uk|europe|america|britain|country)'?s\s+(?:largest|biggest|first|oldest|leading|most popular)",
    r"(?:a|the) leading (?:\w+\s+)?(?:manufacturer|brand|maker|supplier|company)",
    # a named process or material the facts do not name ("a process called 'linton weaving'")
    r"(?:called|named|known as)\s+[\"“'‘]?[\w-]+(?:\s+[A-Z][\w-]*)*",
    # health claims are regulated almost everywhere
    r"(?:prevent|protect|reduce|relieve|cure|heal|soothe)\w*\s+(?:\w+\s+){0,4}?(?:illness|disease|injur|pain|"
    r"allerg|eczema|arthritis|fatigue|chafing|blisters)\w*",
)

# Shade names that are ordinary words elsewhere ("sage", "stone", "forest"): claims only in a colour context
# (a colour cue such as "colours" / "comes in", or two colour words in the sentence).
EXTRA_COLOURS = _wordset("""
sage olive oatmeal oat moss slate stone sand ecru forest sky ink bottle cherry berry peach apricot
mint pistachio natural heather marl mocha espresso caramel biscuit putty clay pebble chalk bone graphite
midnight ash denim oyster stripe stripes check striped checked gingham tartan herringbone
""")
FAMILY.update({"rain": "dry", "rainy": "dry", "waterproof": "dry", "wicking": "dry",  # "keeps you dry"
               "stoneware": "clay", "recycled": "sustainable", "eco": "sustainable", "spandex": "stretch", "sage": "green", "olive": "green", "moss": "green", "forest": "green", "mint": "green",
               "slate": "gray", "graphite": "gray", "ash": "gray", "pebble": "gray", "storm": "gray",
               "oatmeal": "beige", "oat": "beige", "sand": "beige", "ecru": "white", "chalk": "white",
               "bone": "white", "ink": "blue", "midnight": "blue", "sky": "blue",
               "cherry": "red", "berry": "red", "rust": "red", "mocha": "brown",
               "espresso": "brown", "caramel": "brown", "biscuit": "brown", "clay": "brown"})

# Field labels a draft may open a line with ("Care: hand wash"); any other unknown "Word:" names something.
LABELS = _wordset("""
size sizes color colors colours material materials care origin scent scents fragrance notes note features feature
details detail fit fabric fabrics style styles pattern dimensions dimension weight capacity price tip tips why
what how who pros cons key includes included contents made perfect ideal great best good warning important
product description specs specifications use uses available options finish design quality comfort
""")
