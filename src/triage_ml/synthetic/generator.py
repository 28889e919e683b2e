"""Synthetic labelled history for demos and tests.

The sample exists so that every part of triage-ml (training, the notebooks, the service, the
tests) can run on a fresh machine without a brand's private export. It is built to be *hard
enough to be honest*: texts are composed from several hundred templates and slot fillers that
share vocabulary across labels, with sarcasm, borderline questions, typos, emoji and about 6%
label noise, so a model has to generalise instead of memorising. It is still synthetic: numbers
measured on it say that the code works, never how well triage-ml works on real posts (use the
real data sets in ``../shared/datasets`` for that). See ``data/README.md`` for the data card.

All randomness comes from one ``numpy.random.Generator`` seeded by ``seed``: the same arguments
give the same frame on the same numpy/Python versions.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import pandas as pd

__all__ = [
    "CHANNELS",
    "COLUMNS",
    "LABELS",
    "NOISE_RATE",
    "URGENCY_MISSING_RATE",
    "generate_sample",
]

LABELS: tuple[str, ...] = ("complaint", "sales_lead", "product_review", "influencer")
CHANNELS: tuple[str, ...] = (
    "twitter",
    "facebook",
    "instagram",
    "linkedin",
    "forum",
    "review_site",
    "email",
)
COLUMNS: tuple[str, ...] = (
    "id",
    "text",
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
)

#: Probability that a row's label set is corrupted (one label flipped, dropped or added).
#: Real annotation is noisy too; the exact rows are available via ``return_noise_mask=True``.
NOISE_RATE: float = 0.06
#: Probability that a row's urgency is missing (completely at random).
URGENCY_MISSING_RATE: float = 0.10

_COMPLAINT = LABELS.index("complaint")

# --------------------------------------------------------------------------------------------
# Slot fillers. The brand is fictional ("Lumora"); so are its competitors.
# --------------------------------------------------------------------------------------------

_BRAND = "Lumora"
_HANDLES = ("@LumoraHelp", "@Lumora", "@LumoraSupport")

# product -> features that make sense for it
_PRODUCTS: dict[str, tuple[str, ...]] = {
    "Aero X2 headphones": (
        "noise cancelling",
        "battery life",
        "ear cushions",
        "bluetooth pairing",
        "charging case",
        "sound quality",
    ),
    "Aero Buds": ("fit", "battery life", "charging case", "call quality", "touch controls"),
    "Pulse 3 watch": (
        "heart rate sensor",
        "strap",
        "battery life",
        "sleep tracking",
        "GPS",
        "notifications",
    ),
    "Halo mesh router": (
        "wifi range",
        "setup app",
        "firmware update",
        "parental controls",
        "speed",
    ),
    "Nova 5 phone": ("camera", "screen", "battery life", "charging port", "face unlock"),
    "Orbit speaker": ("bass", "bluetooth pairing", "voice assistant", "volume", "multiroom sync"),
    "Atlas 14 laptop": ("keyboard", "trackpad", "hinge", "battery life", "fan", "webcam"),
    "Vista 27 monitor": ("colours", "stand", "USB-C port", "refresh rate", "panel"),
    "Echo Dock": ("ports", "display output", "ethernet", "firmware"),
    "Glint smart bulbs": ("brightness", "scheduling", "colours", "pairing", "app"),
    "Lumen cam": ("night vision", "motion alerts", "recording", "wifi connection", "app"),
    "Nova 5 Mini": ("camera", "screen", "battery life", "speaker", "face unlock"),
}

_FILLERS: dict[str, tuple[str, ...]] = {
    "competitor": ("Vexa", "Corvin", "Nordial", "Kestrel", "Ambrix", "Tessaly"),
    "ago": (
        "last week",
        "3 days ago",
        "on Monday",
        "two weeks ago",
        "yesterday",
        "last month",
        "ten days ago",
        "over a week ago",
        "on the 2nd",
        "before Christmas",
    ),
    "wait": (
        "two weeks",
        "10 days",
        "a month",
        "3 weeks",
        "six days",
        "5 days",
        "over a week",
        "two months",
        "48 hours",
    ),
    "hours": (
        "2 hours",
        "45 minutes",
        "an hour and a half",
        "3 hours",
        "90 minutes",
        "over an hour",
        "40 mins",
    ),
    "nth": ("third", "fourth", "fifth", "3rd", "4th", "second", "sixth"),
    "amount": (
        "$49",
        "$129.99",
        "£89",
        "€240",
        "$15.99",
        "$349",
        "£12.99",
        "$1,200",
        "€59",
        "$79.95",
        "£450",
    ),
    "plan": ("Basic", "Plus", "Pro", "Business", "Family", "Premium"),
    "seats": ("12", "25", "40", "150", "300", "8", "60", "500"),
    "store": (
        "the downtown store",
        "your online shop",
        "the airport store",
        "Amazon",
        "a local retailer",
        "Currys",
        "Best Buy",
        "the outlet store",
    ),
    "city": (
        "Leeds",
        "Dublin",
        "Toronto",
        "Austin",
        "Manchester",
        "Melbourne",
        "Berlin",
        "Denver",
        "Glasgow",
        "Auckland",
        "Chicago",
        "Cardiff",
    ),
    "person": (
        "my wife",
        "my husband",
        "my son",
        "my daughter",
        "my mum",
        "my dad",
        "my partner",
        "a friend",
        "my boss",
        "my flatmate",
        "my grandma",
    ),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "team": (
        "our sales team",
        "our design studio",
        "the school",
        "our clinic",
        "our warehouse staff",
        "our remote team",
        "the office",
        "our engineers",
        "our call centre",
        "the whole department",
    ),
    "event": (
        "the launch event",
        "the spring sale",
        "Black Friday",
        "the keynote",
        "the live stream",
        "the summer sale",
        "Cyber Monday",
    ),
    "name": (
        "Sam",
        "Priya",
        "Tom",
        "Aisha",
        "Luca",
        "Maria",
        "Ben",
        "Chloe",
        "Omar",
        "Jess",
        "Kenji",
        "Rosa",
        "Dan",
        "Fiona",
        "Marcus",
        "Zoe",
    ),
    "kfollowers": ("12k", "40k", "85k", "120k", "200k", "1.2M", "30k", "60k", "350k"),
    "n": ("2", "3", "4", "5", "6", "10"),
}
_FRIEND_NAMES = (
    "jess",
    "mike",
    "techtom",
    "anna",
    "the_real_dave",
    "priya",
    "gadgetgirl",
    "kev",
    "sarah",
    "leo",
    "mo",
    "ella",
    "rich",
    "nina",
)


class _Slots(dict):
    """Per-post slot values, drawn lazily so a product named twice stays the same product."""

    def __init__(self, r: random.Random) -> None:
        super().__init__(brand=_BRAND)
        self.r = r

    def __missing__(self, key: str) -> str:
        r = self.r
        if key == "product":
            value = r.choice(_PRODUCT_NAMES)
        elif key == "product2":
            first = self["product"]
            value = r.choice([p for p in _PRODUCT_NAMES if p != first])
        elif key == "feature":
            value = r.choice(_PRODUCTS[self["product"]])
        elif key == "handle":
            value = r.choice(_HANDLES)
        elif key == "order":
            value = f"#LM{r.randrange(100000, 999999)}"
        elif key == "friend":
            value = "@" + r.choice(_FRIEND_NAMES) + (str(r.randrange(10, 99)) * (r.random() < 0.4))
        elif key == "code":
            value = r.choice(_FRIEND_NAMES).upper().replace("_", "") + str(r.choice((10, 15, 20)))
        elif key == "rating":
            value = str(r.choice((4, 5, 5)))
        else:
            value = r.choice(_FILLERS[key])
        self[key] = value
        return value


_PRODUCT_NAMES: tuple[str, ...] = tuple(_PRODUCTS)

# --------------------------------------------------------------------------------------------
# Phrase banks. Each post = [core sentence] + details + [closer], decorated per channel.
# --------------------------------------------------------------------------------------------

_C_DELIVERY = (
    "Ordered the {product} {ago} and it still hasn't arrived",
    "My order {order} was supposed to arrive on {weekday} and there's still nothing",
    "Tracking for {order} has said out for delivery for {wait}",
    "The courier marked my {product} as delivered but it never came",
    "Received the wrong item, I ordered the {product} and got a phone case",
    "The box arrived crushed and the {product} inside is scratched",
    "Paid {amount} for express shipping and the {product} is still not here",
    "Half of my order is missing, the {product} never showed up",
    "Been waiting {wait} for a replacement {product}",
    "Delivery of order {order} got rescheduled for the {nth} time",
    "Your courier left my {product} in the rain outside the door",
    "Order {order} shows delivered to {city}, I live nowhere near {city}",
    "Still no sign of the {product} I ordered {ago}",
)
_C_DEFECT = (
    "My {product} stopped working after {wait}",
    "The {feature} on my {product} doesn't work anymore",
    "The {feature} on the {product} was broken right out of the box",
    "Brand new {product} and the {feature} already failed",
    "My {product} keeps restarting every few minutes",
    "After the last update the {feature} on my {product} is completely useless",
    "The {product} won't turn on at all since {ago}",
    "The {feature} on my {product} cuts out constantly",
    "This is the {nth} {product} I've had with a faulty {feature}",
    "My {product} is not charging anymore",
    "The {feature} is so bad on this {product} that it's unusable",
    "My {product} don't work after the update",
    "The {feature} of my {product} died {ago}, barely used it",
    "There's a rattle inside my {product} and the {feature} is dead",
    "The {product} freezes and has to be reset every few hours",
)
_C_BILLING = (
    "I was charged twice for my {plan} plan this month",
    "You took {amount} from my account after I cancelled",
    "Still waiting on my refund of {amount} from {ago}",
    "My {plan} subscription renewed without any warning and charged me {amount}",
    "Got billed {amount} for a {product} I returned {ago}",
    "Your site says my refund was processed {ago} but I haven't seen a penny",
    "The promo code for the {product} was not applied and I paid full price",
    "I've been overcharged {amount} and nobody can explain why",
    "There's a {amount} charge from {brand} on my card that I never made",
    "Returned the {product} {ago} and the refund still hasn't come through",
)
_C_SUPPORT = (
    "I've been on hold for {hours}",
    "This is the {nth} time I've contacted support about the same issue",
    "Nobody from support has replied to my ticket in {wait}",
    "Your chat agent closed my ticket without fixing anything",
    "Support keeps telling me to reset the {product} and it doesn't help",
    "I was promised a call back {ago} and never got one",
    "Every time I call I get transferred and then cut off",
    "I've emailed three times about order {order} and got no answer",
    "Your support bot just loops me back to the FAQ",
    "Spent {hours} in the chat queue just to be told to email instead",
    "The agent hung up on me halfway through explaining the problem with the {product}",
)
_C_OUTAGE = (
    "The {brand} app is down again",
    "{brand} Cloud has been down for {hours} and I can't access my files",
    "Can't log in to my account, the site just spins",
    "Is there an outage? My {product} won't connect to anything",
    "All my devices went offline at the same time, is {brand} down?",
    "Sync has been broken since this morning",
    "Your servers are down and my whole team can't work",
    "The app crashes every time I open it since the update",
    "Outage again? Second time this week the {product} lost connection",
    "{brand} Cloud not loading for anyone else?",
)
_C_SAFETY = (
    "My {product} got extremely hot while charging and smelled like burning plastic",
    "The {product} battery is swelling and the case is cracking",
    "Sparks came out of the {product} charger when I plugged it in",
    "My {product} overheated and burned {person}'s hand",
    "There was smoke coming out of the {product} last night",
    "The charging port on my {product} melted",
    "Got an electric shock from the {product}",
    "The {product} caught fire on my desk, this is dangerous",
)
_C_ACCOUNT = (
    "My account was hacked and someone ordered {amount} of stuff",
    "Someone changed the email on my {brand} account and I'm locked out",
    "There are orders on my account that I never made",
    "I can't reset my password, the reset email never arrives",
    "My account got suspended for no reason",
    "Someone used my saved card on {brand} without permission, this is fraud",
)
_C_CANCEL = (
    "I've been trying to cancel my {plan} subscription for {wait}",
    "Why is it so hard to cancel? There is no cancel button anywhere",
    "I'm cancelling my {plan} plan after this",
    "You keep charging me after I cancelled {ago}",
    "Cancel my account. I'm done",
    "Want to cancel the {plan} plan and nobody will let me",
)
_C_SARCASM = (
    "Love how my {product} restarts every time I open the {feature}. Great job {brand}",
    "Thanks {brand}, {hours} on hold is exactly how I wanted to spend my day off",
    "Wow, the new update made my {product} so much slower. Genius",
    "Nothing says premium like a {amount} {product} with a broken {feature}",
    "Great, another update that breaks the {feature}. Love it",
    "Oh good, order {order} is on its way for the {nth} week in a row",
    "Five stars for the creativity of your delivery estimates",
    "So glad I paid extra for express shipping just to wait {wait}",
    "Really loving the new feature where the {product} just turns itself off",
    "Customer service award of the year goes to {brand}, {wait} and still no reply",
    "Can't wait to explain to {person} why their birthday present still hasn't arrived. "
    "Thanks {brand}",
    "Brilliant, charged twice again. At least you're consistent",
    "Nice to know my {plan} subscription pays for a support team that never answers",
    "Ah yes, the famous {brand} quality. {nth} {product} this year",
    "Who needs a working {feature} anyway",
    "Cool cool cool, the {product} bricked itself overnight. Amazing",
    "Incredible how fast you take the money and how slow you send the {product}",
)
_C_DETAILS = (
    "Absolutely ridiculous",
    "This is not acceptable",
    "I'm not happy at all",
    "Really disappointed with {brand}",
    "Nobody seems to care",
    "I've had {brand} products for years and never had this before",
    "I needed it for {person}'s birthday",
    "I use it for work every day",
    "Worst customer service I've ever dealt with",
    "I did everything the FAQ says and it still doesn't work",
    "Honestly starting to regret buying {brand}",
    "It's not like it was cheap either, I paid {amount}",
    "This is the {nth} time this has happened",
    "Photos attached",
    "I've already tried turning it off and on again",
    "I'm losing patience",
    "Not impressed",
    "Seriously?",
    "Don't tell me to check the FAQ, I already did",
    "My order number is {order}",
    "I've been a {plan} customer for years",
    "It worked fine until {ago}",
    "Factory reset didn't fix it",
    "{person} has the same problem with theirs",
    "Still waiting for someone to get back to me",
    "The app just shows an error code",
    "Tried two different cables, no difference",
    "Can't believe I have to chase this",
    "I shouldn't have to post publicly to get an answer",
)
_C_CLOSERS = (
    "I want a refund",
    "I want my money back",
    "Please fix this today",
    "Can someone actually help me?",
    "Please DM me, I need this sorted ASAP",
    "Send a replacement or refund me, I don't care which",
    "If this isn't fixed by {weekday} I'm going to cancel",
    "I'll be reporting this to consumer protection",
    "Can anyone from {brand} reply?",
    "Urgent, please respond",
    "I'll be taking my business to {competitor}",
    "How hard can it be?",
    "Please escalate this",
    "Still waiting for an answer",
    "What are you going to do about it?",
    "Fix it",
    "Never buying from you again",
    "Do better",
    "Sort it out {brand}",
    "Is anyone even reading these?",
    "Not good enough",
)
_Q_BORDERLINE = (
    "Is it normal that the {feature} on the {product} drains so much overnight?",
    "Is the {feature} on the {product} supposed to make a clicking noise?",
    "Anyone else's {product} acting weird since the update?",
    "Should my {product} be getting this warm when it charges?",
    "How long do refunds usually take? Mine was {ago}",
    "Quick question, why did my {plan} price go up?",
    "Is there a known issue with the {feature} right now?",
    "Does the {product} usually take {wait} to ship?",
    "Hmm, my {product} keeps disconnecting, is there a fix for that?",
    "Not sure if I'm doing something wrong but the {feature} doesn't seem to work like in the ad",
    "Any idea when order {order} will ship? It's been a while",
    "Is it just me or is the {brand} app slower lately?",
    "Why does the {product} keep asking me to log in again?",
    "Is the {feature} meant to be this quiet?",
    "Did the last update change the {feature}? Mine feels different",
    "My {product} shows a red light, what does that mean?",
    "Does the warranty cover the {feature} on the {product}?",
    "Wondering if it's worth sending my {product} in for repair or if it's a settings thing",
)
_Q_DETAILS = (
    "Thanks in advance",
    "Not a big deal, just curious",
    "Bought it {ago}",
    "It's the {plan} plan if that matters",
    "Tried restarting already",
    "Otherwise it's fine",
    "Asking before I contact support",
)

_L_PRICING = (
    "How much is the {product}?",
    "What's the price of the {plan} plan for a team of {seats}?",
    "Is the {product} going to be on sale for {event}?",
    "Do you have any deals on the {product} right now?",
    "How much would it cost to upgrade from {plan} to Business?",
    "Does the {plan} plan include the {product}?",
    "What's the cheapest way to get the {product} and the {product2} together?",
    "Any offers on the {product} this week?",
)
_L_BULK = (
    "We're looking to buy {seats} {product} units for {team}, who should I talk to?",
    "Do you offer volume pricing for {seats} units?",
    "Our company is evaluating the {product} for {team}, can someone send a quote?",
    "Interested in a business account for {seats} users",
    "Can we get invoicing instead of card payment for a large order?",
    "Looking to roll out the {product} across {team}, do you have an enterprise contact?",
    "We need {seats} licences of {brand} Cloud, is there a discount at that size?",
    "Procurement here, we'd like to order {seats} of the {product} for {team}",
)
_L_COMPARE = (
    "Thinking about switching from {competitor} to the {product}, what's the difference?",
    "Torn between the {product} and the {competitor} one, which has the better {feature}?",
    "Is the {product} worth it over the {competitor} equivalent?",
    "Would the {product} work with my {competitor} setup?",
    "Moving away from {competitor}, does {brand} Cloud import their files?",
    "Which is better for {person}, the {product} or the {product2}?",
)
_L_AVAILABILITY = (
    "When is the {product} back in stock?",
    "Does {store} have the {product} in stock?",
    "Can I order the {product} in {city}?",
    "Do you ship the {product} to {city}?",
    "Is the new {product} coming out before {event}?",
    "Can I pre-order the next {product}?",
    "Is the {product} available in white yet?",
)
_L_INTENT = (
    "Ready to buy the {product}, just need to know if it comes in black",
    "I want to order a second {product} for {person}",
    "Planning to get the {product} this weekend, any tips on which model?",
    "Looking to upgrade my old {product}, what do you recommend?",
    "Take my money, when can I order the {product}?",
    "Need {n} more {product} units for the new office",
    "About to order the {product}, is the {feature} any good?",
    "Going to buy the {product} for {person}, can I get it gift wrapped?",
    "Want to get the {plan} plan, how do I sign up?",
)
_L_TRIAL = (
    "Can we book a demo of {brand} Cloud for {team}?",
    "Is there a free trial of the {plan} plan?",
    "Do you do trade-ins if I bring my old {competitor} device?",
    "Is there a student discount on the {product}?",
    "Do you offer nonprofit pricing for {team}?",
    "Any discount if I buy the {product} and the {product2} together?",
    "Do you price match {store}?",
    "Could someone from sales call me about the {plan} plan?",
)
_L_DETAILS = (
    "Budget is around {amount}",
    "We'd need them by {weekday} if possible",
    "Happy to order today if the price is right",
    "Please DM me the details",
    "Can someone from sales get in touch?",
    "My email is in my bio",
    "Would need delivery to {city}",
    "Need it before {event}",
    "We currently use {competitor} but the contract ends next month",
    "Looking for the best option, thanks!",
    "Mainly need it for the {feature}",
    "Heard good things from {person}",
    "Would pay extra for next day delivery",
    "Comparing a few options this week",
)
_L_CLOSERS = (
    "Can someone send me a quote?",
    "How much would that be?",
    "Where can I buy one?",
    "Looking to buy this week",
    "What's the best price you can do?",
    "Happy to order today",
    "Any discount for ordering now?",
    "Who do I talk to about buying?",
    "Is it in stock?",
    "Please send pricing",
)
_L_BORDERLINE = (
    "The {product} looks cool",
    "Hmm the {product} looks interesting",
    "Might get the {product} at some point",
    "Wish I could afford the {product}",
    "Saw the {product} at {store}, nice design",
    "Adding the {product} to my wishlist",
    "Someone buy me the {product} please",
    "If the {product} drops to {amount} I'm in",
    "The new {product} colours are tempting",
    "Not gonna lie, the {product} ad got me thinking",
    "Kinda want the {product} now",
)

_R_POSITIVE = (
    "Been using the {product} for {wait} now and I love it",
    "The {feature} on the {product} is amazing",
    "Honestly one of the best purchases I've made this year, the {product} is great",
    "The {product} is worth every penny",
    "The {feature} is way better than on my old {competitor}",
    "Setup took five minutes and the {feature} just works",
    "Really impressed with the {feature} on the {product}",
    "Solid build, great {feature}, no complaints",
    "Can't fault the {product}",
    "Would definitely recommend the {product}",
    "{rating}/5 for the {product}, would buy again",
    "Not a single issue with the {product} so far",
    "Didn't expect the {feature} to be this good",
    "Quick review of the {product}: {feature} excellent, design clean, price fair",
    "Ordered the {product} {ago}, arrived next day and works perfectly",
    "After {wait} with the {product} I can say it was the right choice",
    "The {product} exceeded my expectations",
    "Gave the {product} to {person} and they love it",
)
_R_CLOSERS = (
    "Highly recommend",
    "Would buy again",
    "Definitely worth it",
    "Recommended",
    "Happy with my purchase",
    "Great value overall",
    "Solid choice if you're on the fence",
    "Glad I bought it",
)
_R_MIXED = (
    "The {product} is good overall but the {feature} could be better",
    "Love the design of the {product}, not so sure about the {feature}",
    "Decent {product} for the price, the {feature} is average",
    "Some pros and cons after {wait} with the {product}",
    "Three stars: the {product} does the job but nothing special",
    "It's fine. Not amazing, not terrible",
    "Good hardware, the app needs work",
    "Worth it on sale, I wouldn't pay full price for the {product}",
    "The {feature} is great but the {product} feels a bit cheap",
    "Mixed feelings about the {product}, the {feature} is hit and miss",
)
_R_NEGATIVE = (
    "Honest review of the {product} after {wait}: the {feature} is terrible",
    "1 star. The {product} broke after {wait} and {brand} refused to help",
    "Do not buy the {product}. The {feature} stopped working and support is useless",
    "Returned the {product}, the {feature} just doesn't work as advertised",
    "Really wanted to like the {product} but the {feature} is a dealbreaker",
    "Would give the {product} zero stars if I could",
    "Overpriced and the {feature} is awful",
    "The {product} is not worth {amount}",
    "Avoid the {product}. Mine died in {wait}",
    "Review: looks nice, feels cheap, the {feature} is bad, support never answered",
    "Two stars. The {feature} on the {product} fails every other day",
    "Not happy with the {product} at all, the {feature} is a joke",
)
_R_PAST_PROBLEM = (
    "Had an issue with the {feature} at first but support sorted it within a day, "
    "now the {product} is great",
    "First unit was faulty, the replacement {product} has been perfect",
    "Delivery was late but honestly the {product} was worth the wait",
    "Was skeptical after the {feature} problems on my old one, but this {product} is brilliant",
    "Took {wait} to arrive, but no regrets, the {feature} is fantastic",
    "The update broke the {feature} for a day, fixed now and I'm really happy with the {product}",
    "Almost returned the {product} because of the {feature}, glad I didn't",
)
_R_DETAILS = (
    "Build quality feels premium",
    "Battery easily lasts all day",
    "The app is easy to use",
    "Packaging was nice too",
    "For the price you can't really complain",
    "Not perfect but close",
    "Compared to my old {competitor}, it's a big step up",
    "The {feature} took some getting used to",
    "Ordered it from {store}",
    "{person} wants one now",
    "Would buy from {brand} again",
    "Had it for {wait}",
    "The {feature} could be better though",
    "Updates have made it better over time",
)
_R_NEG_DETAILS = (
    "Support was no help",
    "Paid {amount} for this",
    "Feels like a beta product",
    "My old {competitor} was better",
    "Waste of money",
    "Expected more from {brand}",
)

_CL_COMBO = (
    "My {product} died just after warranty. If I buy the new one, is there a loyalty discount?",
    "Fed up with my {product} breaking, thinking of the newer model, what does it cost?",
    "The {feature} keeps failing on my {product}. Do you do trade-ins towards the next one?",
    "{nth} faulty {product} this year, should I just pay for the {plan} plan with device "
    "protection? How much is it?",
    "Support hasn't answered in {wait}. I'd still like to order {seats} units for {team} "
    "but not with this service",
    "Refund me for the broken {product} and I'll put it towards the {product2}, deal?",
    "Still waiting on my refund, but I want to order the {product2} too, can you combine them?",
)
_LR_COMBO = (
    "Love my {product} so much I want to get {seats} more for {team}, do you do bulk pricing?",
    "Been using the {product} for {wait} and it's brilliant. Is there a bigger version? "
    "Ready to buy",
    "The {feature} on my {product} is excellent, does the {product2} have it too? "
    "Thinking of ordering one",
    "Five stars for the {product}. Now I want one for {person}, any bundle deals?",
    "Great {product}, great {feature}. How much for the {plan} plan on top?",
)

_N_CHATTER = (
    "Just saw the {brand} ad during the game lol",
    "Who else is watching {event} tonight?",
    "The {brand} logo redesign looks clean",
    "My cat is obsessed with the box my {product} came in",
    "Spotted a giant {brand} billboard in {city}",
    "Does anyone remember the first {brand} phone?",
    "Happy Friday {handle}!",
    "Listening to a podcast about the history of {brand}, interesting stuff",
    "The {brand} store in {city} has a cool new window display",
    "Can't believe {event} is already next week",
    "That {brand} commercial with the dog is adorable",
    "Me and {person} arguing about whether {brand} or {competitor} has the better logo",
    "Not a complaint, just wanted to say the {brand} ads are funny",
    "Who designs the {brand} packaging? So satisfying",
    "Monday mood: charging everything before work",
    "Random thought: do {brand} employees get a free {product}?",
)
_N_HOWTO = (
    "How do I turn on dark mode in the {brand} app?",
    "How do I pair the {product} with a second phone?",
    "Where can I find the user manual for the {product}?",
    "Which cable do I need to connect the {product} to a TV?",
    "Tip for new {product} owners: you can customise the {feature} in settings",
    "Does the {product} work with Android?",
    "Can I use the {product} while it's charging?",
    "How do I share a folder on {brand} Cloud with {person}?",
    "Is there a shortcut for the {feature} on the {product}?",
    "What's the difference between the {plan} and Pro plans?",
    "Can the {product} be used abroad?",
    "Does anyone have a good case recommendation for the {product}?",
)
_N_NEWS = (
    "{brand} announces a new {product} lineup at {event}",
    "Reading: {brand} quarterly results beat expectations",
    "{brand} opens a new office in {city}",
    "What time does the {event} start?",
    "{brand} partnering with {competitor}?? Interesting",
    "Live blog from {event}, {brand} has a lot to show",
    "Rumour says the next {product} drops in spring",
    "{brand} CEO interview was worth a listen",
)
_N_SPAM = (
    "Entering! Would love to win the {product} {friend}",
    "Giveaway time, tag a friend {friend}",
    "Earn {amount} a day working from home, click here",
    "Follow for follow",
    "Check out my page for cheap {product} deals",
    "Free {product} for the first 100 people who DM me",
    "Crypto signals in my bio, 10x guaranteed",
)
_N_THANKS = (
    "Thanks {handle}, issue sorted!",
    "Big thanks to {name} from support, order {order} arrived today",
    "Appreciate the quick reply, all good now",
    "Refund came through, thanks for sorting it",
    "Never mind, found the setting. Thanks anyway!",
    "Update: the courier found my parcel, all good",
    "Thanks for the help yesterday {handle}",
    "Solved it myself, the {feature} just needed a restart",
)
_N_OTHER = (
    "Are you hiring in {city}?",
    "Just started my new job at {brand}!",
    "What are the store opening hours on {weekday}?",
    "Is the {city} store open on bank holidays?",
    "Does {brand} have a student internship programme?",
    "Who runs the {brand} social accounts? You're hilarious",
    "Is {brand} recycling old devices anywhere in {city}?",
)
_N_DETAILS = (
    "Just curious",
    "lol",
    "Anyway",
    "Have a good weekend everyone",
    "No rush",
    "Thanks!",
    "Asking for {person}",
    "Saw it in {city}",
)

_INFLUENCER_CUES = (
    "Sharing with my {kfollowers} followers:",
    "Just posted my full review on my channel.",
    "My followers keep asking me about this.",
    "New video on my channel, link in bio.",
    "Told my followers I'd give an honest update.",
    "Partnered with {brand} for this one #ad",
    "Open to a collab {handle}, my audience would love it.",
    "We talked about this on today's episode of my podcast.",
    "My subscribers asked me to test this.",
    "Full unboxing video on my YouTube channel.",
    "Going live later to talk about it with my followers.",
    "Thread for my followers:",
    "#ad #sponsored",
    "PR package from {brand} arrived today #gifted",
    "Not sponsored, just my honest opinion for my followers.",
    "As a tech creator I get asked this a lot by my audience.",
    "DM for collabs.",
    "My newsletter readers and followers will hear about this too.",
    "Posting this to my story for my followers as well.",
    "Will cover this in my next video, subscribe to my channel.",
    "Brand partnership enquiries via the link in bio.",
    "Lots of my followers asked about this in the comments.",
    "Use my code {code} for 15% off #ad",
    "{kfollowers} of you follow me for honest tech takes, so here it is.",
    "Collab with {brand} coming soon on my channel.",
    "Asked my followers in a poll and they agreed.",
    "Link in bio for my full review video.",
    "This is going in this week's video for my subscribers.",
)


_AUDIENCE_LEADS = (
    "Sharing this with",
    "Quick update for",
    "Made a video about this for",
    "Asked",
    "Going live about this for",
    "Posting this for",
    "Reviewing it this week for",
    "Heads up to",
    "Testing this for",
    "Shout out to",
)
_AUDIENCES = (
    "my followers",
    "my {kfollowers} followers",
    "my subscribers",
    "my viewers",
    "my community",
    "everyone on my channel",
    "my followers on here",
    "the followers of my channel",
)

# share of influencer posts with an audience cue ("my followers", "#ad", "collab"...), and of
# other posts (aspiring creators, people quoting a creator)
_CUE_RATE_INFLUENCER = 0.88
_CUE_RATE_OTHER = 0.025


@dataclass(frozen=True)
class _Scenario:
    """One kind of post: which label(s) the annotator gives it and where its words come from."""

    name: str
    weight: float
    labels: tuple[str, ...]
    family: str  # complaint | lead | review | none: channel mix, emoji, hashtags
    core: tuple[str, ...]
    details: tuple[str, ...]
    closers: tuple[str, ...] = ()
    closer_p: float = 0.0
    # extra label with probability: annotators disagree on borderline posts
    maybe: tuple[tuple[str, float], ...] = ()
    # weight multiplier when the author is an influencer
    infl: float = 1.0
    stars: tuple[int, ...] = ()


def _complaint(name: str, weight: float, core: tuple[str, ...], **kw: object) -> _Scenario:
    kw = {
        "labels": ("complaint",),
        "details": _C_DETAILS,
        "closers": _C_CLOSERS,
        "closer_p": 0.6,
        **kw,
    }
    return _Scenario(name, weight, family="complaint", core=core, **kw)  # type: ignore[arg-type]


def _lead(name: str, weight: float, core: tuple[str, ...], **kw: object) -> _Scenario:
    kw = {"details": _L_DETAILS, "closers": _L_CLOSERS, "closer_p": 0.6, **kw}
    return _Scenario(name, weight, ("sales_lead",), "lead", core, **kw)  # type: ignore[arg-type]


def _review(name: str, weight: float, core: tuple[str, ...], **kw: object) -> _Scenario:
    kw = {"labels": ("product_review",), "details": _R_DETAILS, "closers": _R_CLOSERS, **kw}
    kw.setdefault("closer_p", 0.6 if kw["closers"] is _R_CLOSERS else 0.3)
    return _Scenario(name, weight, family="review", core=core, **kw)  # type: ignore[arg-type]


def _none(name: str, weight: float, core: tuple[str, ...], **kw: object) -> _Scenario:
    kw = {"details": _N_DETAILS, **kw}
    return _Scenario(name, weight, (), "none", core, **kw)  # type: ignore[arg-type]


# weights are shares before normalisation; `infl` shifts the mix for influencers
_SCENARIOS: tuple[_Scenario, ...] = (
    _complaint("delivery", 0.045, _C_DELIVERY, infl=0.8),
    _complaint("defect", 0.045, _C_DEFECT, infl=0.8),
    _complaint("billing", 0.035, _C_BILLING, infl=0.7),
    _complaint("support", 0.03, _C_SUPPORT, infl=0.8),
    _complaint("outage", 0.025, _C_OUTAGE, closer_p=0.5, infl=0.8),
    _complaint("safety", 0.008, _C_SAFETY, closer_p=0.7),
    _complaint("account", 0.012, _C_ACCOUNT),
    _complaint("cancel", 0.018, _C_CANCEL, closer_p=0.5, infl=0.6),
    _complaint("sarcasm", 0.025, _C_SARCASM, closers=()),
    _complaint("switching", 0.015, _CL_COMBO, labels=("complaint", "sales_lead"), closer_p=0.2),
    _none("borderline_question", 0.04, _Q_BORDERLINE, details=_Q_DETAILS,
          maybe=(("complaint", 0.5),)),
    _lead("pricing", 0.04, _L_PRICING),
    _lead("bulk", 0.03, _L_BULK, infl=0.6),
    _lead("compare", 0.025, _L_COMPARE),
    _lead("availability", 0.03, _L_AVAILABILITY),
    _lead("intent", 0.035, _L_INTENT),
    _lead("trial", 0.025, _L_TRIAL),
    _none("borderline_lead", 0.02, _L_BORDERLINE, maybe=(("sales_lead", 0.5),)),
    _review("review_positive", 0.08, _R_POSITIVE, infl=2.5, stars=(4, 5, 5)),
    _review("review_mixed", 0.04, _R_MIXED, infl=2.0, stars=(3, 3, 4)),
    _review("review_past_problem", 0.02, _R_PAST_PROBLEM, infl=1.5, stars=(4, 5),
            maybe=(("complaint", 0.2),)),
    _review("review_negative", 0.045, _R_NEGATIVE, labels=("product_review", "complaint"),
            details=_R_NEG_DETAILS + _C_DETAILS, closers=_C_CLOSERS, infl=1.5,
            stars=(1, 1, 2)),
    _review("review_meh", 0.008, _R_NEGATIVE, details=_R_NEG_DETAILS, closers=(), stars=(2, 3)),
    _review("lead_review", 0.015, _LR_COMBO, labels=("sales_lead", "product_review"),
            details=_R_DETAILS + _L_DETAILS, closers=_L_CLOSERS, infl=1.5, stars=(5,)),
    _none("chatter", 0.12, _N_CHATTER, infl=1.2),
    _none("howto", 0.07, _N_HOWTO, details=_N_DETAILS + _Q_DETAILS),
    _none("news", 0.045, _N_NEWS, infl=1.5),
    _none("spam", 0.03, _N_SPAM, infl=0.3),
    _none("thanks", 0.03, _N_THANKS),
    _none("other", 0.02, _N_OTHER),
)  # fmt: skip

_FAMILIES = ("complaint", "lead", "review", "none")
# channel mix per family, columns in CHANNELS order; the influencer row is blended in for them
_CHANNEL_MIX = {
    "complaint": (0.38, 0.20, 0.06, 0.01, 0.10, 0.05, 0.20),
    "lead": (0.18, 0.15, 0.12, 0.22, 0.06, 0.02, 0.25),
    "review": (0.10, 0.10, 0.14, 0.02, 0.12, 0.48, 0.04),
    "none": (0.36, 0.20, 0.22, 0.08, 0.11, 0.01, 0.02),
    "influencer": (0.30, 0.08, 0.38, 0.16, 0.03, 0.04, 0.01),
}

_EMOJI = {
    "complaint": ("😡", "😤", "🤬", "😠", "👎", "🙄", "😒", "😩", "💔", "😞"),
    "sarcasm": ("🙃", "🙄", "👏", "😂", "🤡", "😊"),
    "lead": ("🤔", "👀", "🙏", "😊", "💸", "🛒"),
    "review": ("😍", "🔥", "👏", "🙌", "❤️", "👍", "✨", "💯", "😊", "🤷"),
    "none": ("😂", "🤔", "👀", "🤷", "😅", "🙃", "❤️", "🔥", "🎉", "😎"),
}
_HASHTAGS = {
    "complaint": ("#fail", "#customerservice", "#badservice", "#LumoraFail", "#notimpressed"),
    "lead": ("#shopping", "#business", "#deal", "#newgear", "#wfh"),
    "review": ("#review", "#techreview", "#unboxing", "#recommend", "#gadgets"),
    "none": ("#tech", "#mondaymotivation", "#giveaway", "#tbt", "#Lumora"),
    "influencer": ("#ad", "#creator", "#partner", "#collab", "#techtok"),
    "shared": ("#Lumora", "#tech", "#help", "#gadgets", "#newphone", "#smarthome"),
}
_URL_HOSTS = {
    "complaint": ("https://imgur.com/a/", "https://i.imgur.com/", "https://t.co/"),
    "lead": ("https://lumora.com/shop/", "https://t.co/"),
    "review": ("https://youtu.be/", "https://www.instagram.com/p/", "https://t.co/"),
    "none": ("https://bit.ly/", "https://t.co/", "https://news.example.com/"),
}
_GREETINGS = {
    "email": (
        "Hi,",
        "Hello team,",
        "Dear {brand} support,",
        "Hi there,",
        "To whom it may concern,",
    ),
    "linkedin": ("Hello {brand} team,", "Hi all,", "Quick one for the {brand} team:"),
    "forum": ("Hi all,", "Long time lurker, first post.", "Posting here in case anyone knows."),
    "facebook": ("Hi {brand},", "Hello,", "Hey {brand}"),
}
_SIGNOFFS = {
    "email": ("Thanks, {name}", "Regards, {name}", "Kind regards, {name}", "Sent from my phone"),
    "linkedin": ("Looking forward to hearing from you.", "Best, {name}", "Thanks in advance."),
    "forum": ("Any help appreciated.", "Cheers.", "Thanks all.", "Edit: typo"),
}

_TEXTSPEAK = {
    "you": "u",
    "your": "ur",
    "please": "pls",
    "thanks": "thx",
    "don't": "dont",
    "can't": "cant",
    "i'm": "im",
    "because": "bc",
    "really": "rly",
    "people": "ppl",
    "before": "b4",
    "anyone": "any1",
    "tonight": "tonite",
    "doesn't": "doesnt",
}
_ELONGATE = {
    "so": "sooo",
    "please": "pleeease",
    "love": "loooove",
    "no": "nooo",
    "why": "whyyy",
    "really": "reallyyy",
    "what": "whaaat",
    "bad": "baaad",
    "good": "gooood",
    "slow": "sloooow",
    "great": "greaaat",
    "still": "stilll",
    "help": "helppp",
}
_KEYBOARD = {
    "a": "qswz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}

# Urgency cues, matched on the lowercased text before typos (annotators read meaning, not
# spelling). Weights add up to at most _CUE_CAP on top of the label baseline.
_URGENCY_CUES: tuple[tuple[str, float], ...] = (
    (r"\b(?:third|fourth|fifth|sixth|3rd|4th) (?:time|faulty|week)", 0.14),
    (r"still (?:waiting|hasn't|haven't|no |not )|no (?:reply|answer|response)|never (?:came|got)",
     0.10),
    (r"cancel", 0.10),
    (r"refund|money back|overcharged|charged (?:twice|me)", 0.08),
    (r"outage|\bdown\b|offline|can't log in|crashes|not loading|can't work", 0.15),
    (r"urgent|asap|today|immediately|escalate", 0.12),
    (r"!!", 0.06),
    (r"fire|smoke|burn|sparks|overheat|melted|swelling|shock|dangerous", 0.35),
    (r"consumer protection|lawyer|chargeback", 0.12),
    (r"hacked|fraud|without permission|never made|locked out", 0.20),
    (r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|need it before", 0.06),
)  # fmt: skip
_CUE_CAP = 0.45
_LABEL_BASE = {"complaint": 0.40, "sales_lead": 0.26, "product_review": 0.13}
_UNLABELLED_BASE = 0.05


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@overload
def generate_sample(
    rows: int = ...,
    *,
    seed: int = ...,
    start: str = ...,
    return_noise_mask: Literal[False] = ...,
) -> pd.DataFrame: ...
@overload
def generate_sample(
    rows: int = ...,
    *,
    seed: int = ...,
    start: str = ...,
    return_noise_mask: Literal[True],
) -> tuple[pd.DataFrame, pd.Series]: ...
def generate_sample(
    rows: int = 5000,
    *,
    seed: int = 42,
    start: str = "2026-01-05T08:00:00Z",
    return_noise_mask: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.Series]:
    """Generate a synthetic labelled history in the input contract of DESIGN.md.

    Lets demos, notebooks and tests run without a real export. The frame is sorted by
    ``created_at`` (ids follow that order). Not for accuracy claims: see ``data/README.md``.

    Parameters
    ----------
    rows
        Number of posts (>= 0).
    seed
        Seed of the ``numpy.random.Generator`` all randomness derives from.
    start
        ISO-8601 time of the earliest possible post; naive times are taken as UTC.
    return_noise_mask
        Also return a boolean Series (aligned with the frame) marking rows whose labels were
        corrupted on purpose (rate ``NOISE_RATE``), e.g. to test label-error detection.
    """
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    try:
        start_ts = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"start must be an ISO-8601 time such as '2026-01-05T08:00:00Z', got {start!r}"
        ) from exc
    start_ts = (
        start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts.tz_convert("UTC")
    )

    rng = np.random.default_rng(seed)
    n = int(rows)

    followers, verified, influencer = _draw_authors(rng, n)
    scen_idx = _draw_scenarios(rng, influencer)
    clean = _clean_labels(rng, scen_idx, influencer)
    channel_idx = _draw_channels(rng, scen_idx, influencer)

    text_rng = random.Random(int(rng.integers(0, 2**63 - 1)))
    texts, styled = _compose_texts(text_rng, scen_idx, channel_idx, influencer, clean)

    urgency = _urgency(rng, clean, influencer, styled)
    noisy, noise_mask = _add_label_noise(rng, clean)
    seconds = _draw_times(rng, n, start_ts, scen_idx, channel_idx)

    order = np.argsort(seconds, kind="stable")
    created = (
        np.datetime_as_string(
            (np.datetime64(start_ts.tz_localize(None).floor("s"), "s") + seconds[order]),
            unit="s",
        ).astype(object)
        + "Z"
    )
    frame = pd.DataFrame(
        {
            "id": [f"s-{i:06d}" for i in range(1, n + 1)],
            "text": np.asarray(texts, dtype=object)[order],
            "created_at": created,
            "channel": np.asarray(CHANNELS, dtype=object)[channel_idx[order]],
            "author_followers": followers[order].astype(np.int64),
            "author_verified": verified[order].astype(bool),
            "labels": _join_labels(noisy[order]),
            "urgency": urgency[order],
        },
        columns=list(COLUMNS),
    )
    if return_noise_mask:
        return frame, pd.Series(noise_mask[order], index=frame.index, name="label_noise")
    return frame


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_authors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Heavy-tailed reach; verified and the latent influencer both rise smoothly with it.

    No follower threshold decides anything: the influencer probability is a logistic curve in
    log10(followers) (+ verified), so there are 3k-follower creators and 200k-follower
    accounts that are not influencers (brands, journalists, celebrities off-topic).
    """
    # a mixture: everyday users, and a smaller population of people who build an audience
    creator = rng.random(n) < 0.15
    log10_f = np.where(creator, rng.normal(4.1, 0.7, n), rng.normal(2.3, 0.85, n))
    followers = np.floor(10 ** np.clip(log10_f, 0, 7.3) - 1).astype(np.int64)
    followers[rng.random(n) < 0.02] = 0
    followers = np.maximum(followers, 0)
    lf = np.log10(followers + 1.0)
    verified = rng.random(n) < 0.01 + 0.8 * _sigmoid(1.8 * (lf - 5.0))
    # capped below 1: large brand, news and celebrity accounts are not creators; a small floor
    # lets a few nano-creators through
    p_infl = 0.01 + 0.9 * _sigmoid(2.0 * (lf - 4.0) + 1.2 * verified + 0.5 * creator)
    influencer = rng.random(n) < p_infl
    return followers, verified, influencer


def _draw_scenarios(rng: np.random.Generator, influencer: np.ndarray) -> np.ndarray:
    w = np.array([s.weight for s in _SCENARIOS])
    wi = w * np.array([s.infl for s in _SCENARIOS])
    cum = np.cumsum(w) / w.sum()
    cum_i = np.cumsum(wi) / wi.sum()
    u = rng.random(influencer.shape[0])
    idx = np.where(
        influencer, np.searchsorted(cum_i, u, side="right"), np.searchsorted(cum, u, side="right")
    )
    return np.minimum(idx, len(_SCENARIOS) - 1)


def _clean_labels(
    rng: np.random.Generator, scen_idx: np.ndarray, influencer: np.ndarray
) -> np.ndarray:
    """Labels as a careful annotator would give them (before deliberate noise)."""
    n = scen_idx.shape[0]
    table = np.zeros((len(_SCENARIOS), len(LABELS)), dtype=bool)
    maybe = np.zeros((len(_SCENARIOS), len(LABELS)))
    for i, s in enumerate(_SCENARIOS):
        for lab in s.labels:
            table[i, LABELS.index(lab)] = True
        for lab, p in s.maybe:
            maybe[i, LABELS.index(lab)] = p
    labels = table[scen_idx].copy()
    labels |= rng.random((n, len(LABELS))) < maybe[scen_idx]
    labels[:, LABELS.index("influencer")] = influencer
    return labels


def _draw_channels(
    rng: np.random.Generator, scen_idx: np.ndarray, influencer: np.ndarray
) -> np.ndarray:
    fam = np.array([_FAMILIES.index(s.family) for s in _SCENARIOS])[scen_idx]
    mix = np.array([_CHANNEL_MIX[f] for f in _FAMILIES])
    mix = mix / mix.sum(axis=1, keepdims=True)
    probs = mix[fam]
    infl_mix = np.array(_CHANNEL_MIX["influencer"]) / sum(_CHANNEL_MIX["influencer"])
    probs = np.where(influencer[:, None], 0.5 * probs + 0.5 * infl_mix, probs)
    cum = np.cumsum(probs, axis=1)
    u = rng.random(scen_idx.shape[0])[:, None]
    return np.minimum((u > cum).sum(axis=1), len(CHANNELS) - 1)


def _compose_texts(
    r: random.Random,
    scen_idx: np.ndarray,
    channel_idx: np.ndarray,
    influencer: np.ndarray,
    labels: np.ndarray,
) -> tuple[list[str], list[str]]:
    """Assemble each post; returns (final text, text before typos for urgency cues)."""
    texts: list[str] = []
    styled_all: list[str] = []
    for i in range(scen_idx.shape[0]):
        s = _SCENARIOS[scen_idx[i]]
        channel = CHANNELS[channel_idx[i]]
        slots = _Slots(r)
        short = channel in ("twitter", "instagram")
        n_details = r.choice((0, 0, 1) if short else (0, 1, 1, 2, 3))

        sentences = [_fill(r.choice(s.core), slots)]
        if n_details and s.details:
            for d in r.sample(s.details, min(n_details, len(s.details))):
                sentences.append(_fill(d, slots))
        if s.closers and r.random() < s.closer_p:
            sentences.append(_fill(r.choice(s.closers), slots))
        if len(sentences) > 2 and r.random() < 0.25:
            sentences.insert(0, sentences.pop(1))

        body = _style(r, sentences, s)
        styled_all.append(body)
        body = _typos(r, body, r.choice((0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.01, 0.01, 0.03)))

        # influencer cues: frequent for influencers, occasional for aspiring small accounts
        is_infl = bool(influencer[i])
        if r.random() < (_CUE_RATE_INFLUENCER if is_infl else _CUE_RATE_OTHER):
            first, second = r.sample(_INFLUENCER_CUES, 2)
            if r.random() < 0.5:
                first = r.choice(_AUDIENCE_LEADS) + " " + r.choice(_AUDIENCES) + "."
            if r.random() < 0.5:
                body = f"{_fill(first, slots)} {body}"
            else:
                body = f"{body} {_fill(first, slots)}"
            if is_infl and r.random() < 0.5:
                body = f"{body} {_fill(second, slots)}"
        is_complaint = bool(labels[i, _COMPLAINT])
        texts.append(_decorate(r, body, channel, s, slots, is_infl, is_complaint))
    return texts, styled_all


def _fill(template: str, slots: _Slots) -> str:
    text = template.format_map(slots)
    if text[-1] not in ".?!:" and not text.rsplit(" ", 1)[-1].startswith("#"):
        text += "."
    return text


def _style(r: random.Random, sentences: list[str], s: _Scenario) -> str:
    """Informal writing: shouting, '!!!', elongations ("sooo"), text-speak ("u", "pls")."""
    angry = s.family == "complaint" and s.name != "sarcasm" and r.random() < 0.35
    if angry:
        if r.random() < 0.35:
            k = r.randrange(len(sentences))
            sentences[k] = sentences[k].upper()
        sentences = [
            x[:-1] + r.choice(("!!!", "!!", "!!!!", "!")) if x[-1] == "." else x for x in sentences
        ]
    elif s.family == "review" and "product_review" in s.labels and r.random() < 0.2:
        sentences[-1] = sentences[-1][:-1] + "!"
    elif r.random() < 0.03:
        k = r.randrange(len(sentences))
        sentences[k] = sentences[k].upper()
    text = " ".join(sentences)
    if r.random() < 0.12:
        text = _substitute(r, text, _ELONGATE, 0.7)
    if r.random() < 0.15:
        text = _substitute(r, text, _TEXTSPEAK, 0.8)
    if r.random() < 0.15:
        text = text.lower()
    return text


@functools.cache
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)


def _substitute(r: random.Random, text: str, table: dict[str, str], p: float) -> str:
    lowered = text.lower()
    for word, repl in table.items():
        if word in lowered and r.random() < p:
            text = _word_pattern(word).sub(
                lambda m, repl=repl: repl.upper() if m.group(0).isupper() else repl, text, count=1
            )
    return text


def _typos(r: random.Random, text: str, rate: float) -> str:
    """Character-level slips: swap, drop, double, neighbouring key."""
    if rate <= 0.0:
        return text
    count = int(len(text) * rate + r.random())
    chars = list(text)
    for _ in range(count):
        i = r.randrange(len(chars))
        c = chars[i]
        if len(c) != 1 or not c.isalpha() or not c.isascii():
            continue
        op = r.random()
        if op < 0.3 and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], c
        elif op < 0.55:
            chars[i] = ""
        elif op < 0.75:
            chars[i] = c + c
        else:
            sub = r.choice(_KEYBOARD[c.lower()])
            chars[i] = sub.upper() if c.isupper() else sub
    return "".join(chars)


def _decorate(
    r: random.Random,
    body: str,
    channel: str,
    s: _Scenario,
    slots: _Slots,
    is_infl: bool,
    is_complaint: bool,
) -> str:
    """Channel conventions (greetings, ratings, sign-offs) and emoji, mentions, tags, URLs."""
    fam = s.family
    parts: list[str] = []
    if channel in ("twitter", "instagram") and r.random() < (0.55 if fam != "none" else 0.3):
        parts.append(slots["handle"] if r.random() < 0.8 else slots["friend"])
    elif channel in _GREETINGS and r.random() < 0.6:
        parts.append(_fill_plain(r.choice(_GREETINGS[channel]), slots))
    if channel == "review_site":
        # a complaint posted on a review site still carries a (low) rating
        stars = r.choice(s.stars) if s.stars else (1 if is_complaint else r.choice((2, 3, 4)))
        if r.random() < 0.5:
            parts.append(f"Rating: {stars}/5.")
        else:
            parts.append("★" * stars + "☆" * (5 - stars))
    parts.append(body)
    if channel in _SIGNOFFS and r.random() < 0.5:
        parts.append(_fill_plain(r.choice(_SIGNOFFS[channel]), slots))

    emoji_key = "sarcasm" if s.name == "sarcasm" else fam
    if r.random() < (0.45 if channel in ("twitter", "instagram", "facebook") else 0.12):
        pool = _EMOJI[emoji_key] if r.random() < 0.85 else _EMOJI[r.choice(_FAMILIES)]
        em = r.choice(pool)
        parts.append(em * r.choice((1, 1, 1, 2, 3)))
    if r.random() < 0.12:
        parts.append(slots["friend"])
    if r.random() < (0.14 if fam == "complaint" or is_infl else 0.06):
        parts.append(r.choice(_URL_HOSTS[fam]) + _token(r))
    if channel in ("twitter", "instagram") and r.random() < (0.5 if is_infl else 0.25):
        pools = [_HASHTAGS[fam], _HASHTAGS["shared"]] + ([_HASHTAGS["influencer"]] * is_infl)
        tags = {r.choice(r.choice(pools)) for _ in range(r.choice((1, 1, 2, 3)))}
        parts.append(" ".join(sorted(tags)))
    return " ".join(parts)


def _fill_plain(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _token(r: random.Random) -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(r.choice(alphabet) for _ in range(r.choice((6, 7, 8, 10))))


def _urgency(
    rng: np.random.Generator, labels: np.ndarray, influencer: np.ndarray, styled: list[str]
) -> np.ndarray:
    """Urgency from the true labels, text cues and reach, plus annotator noise; 10% missing."""
    n = labels.shape[0]
    base = np.full(n, _UNLABELLED_BASE)
    for lab, b in _LABEL_BASE.items():
        base = np.where(labels[:, LABELS.index(lab)], np.maximum(base, b), base)
    if n == 0:
        return base
    raw = pd.Series(styled, dtype=object)
    lowered = raw.str.lower()
    cues = np.zeros(n)
    for pattern, weight in _URGENCY_CUES:
        cues += weight * lowered.str.contains(pattern, regex=True).to_numpy(dtype=bool)
    # a shouted post reads as more urgent
    cues += 0.05 * raw.str.contains(r"[A-Z]{3,} [A-Z]{3,}", regex=True).to_numpy(dtype=bool)
    complaint = labels[:, LABELS.index("complaint")]
    # cues count fully on complaints, half elsewhere ("cancel my order?" from a lead)
    cues = np.minimum(cues, _CUE_CAP) * np.where(complaint, 1.0, 0.5)
    value = base + cues + 0.07 * influencer + rng.normal(0.0, 0.07, n)
    value = np.round(np.clip(value, 0.0, 1.0), 2)
    value[rng.random(n) < URGENCY_MISSING_RATE] = np.nan
    return value


def _add_label_noise(rng: np.random.Generator, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt NOISE_RATE of rows: flip one label into another, drop one, or add one.

    Every noised row ends with a label set different from its clean one, so the mask is exact.
    """
    n = clean.shape[0]
    noisy = clean.copy()
    mask = rng.random(n) < NOISE_RATE
    ops = rng.random(n)
    picks = rng.random((n, 2))
    for i in np.flatnonzero(mask):
        present = np.flatnonzero(noisy[i])
        absent = np.flatnonzero(~noisy[i])
        op = ops[i]
        if present.size and absent.size and op < 0.4:  # flip: one label replaced by another
            noisy[i, present[int(picks[i, 0] * present.size)]] = False
            noisy[i, absent[int(picks[i, 1] * absent.size)]] = True
        elif present.size and (op < 0.7 or not absent.size):  # drop
            noisy[i, present[int(picks[i, 0] * present.size)]] = False
        else:  # add
            noisy[i, absent[int(picks[i, 1] * absent.size)]] = True
    return noisy, mask


def _join_labels(labels: np.ndarray) -> np.ndarray:
    names = np.asarray(LABELS, dtype=object)
    return np.array([";".join(names[row]) for row in labels], dtype=object)


# hourly activity (UTC, a UK/EU audience): quiet nights, a lunch and an evening peak
_HOURLY_SOCIAL = (
    0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.0, 2.5, 2.7, 2.8,
    3.0, 2.8, 2.6, 2.5, 2.6, 2.8, 3.1, 3.4, 3.3, 2.8, 2.1, 1.4,
)  # fmt: skip
# LinkedIn and e-mail follow office hours
_HOURLY_WORK = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 1.2, 3.0, 3.8, 3.9, 3.7,
    3.0, 3.5, 3.6, 3.4, 3.0, 2.2, 1.2, 0.8, 0.6, 0.5, 0.4, 0.3,
)  # fmt: skip


def _draw_times(
    rng: np.random.Generator,
    n: int,
    start: pd.Timestamp,
    scen_idx: np.ndarray,
    channel_idx: np.ndarray,
) -> np.ndarray:
    """Seconds after ``start``: weekly and daily rhythm, slow growth, a few outage bursts."""
    span = int(np.clip(round(n / 50), 14, 180))
    day = np.arange(span)
    weekday = (start.dayofweek + day) % 7
    w = np.where(weekday >= 5, 0.7, 1.0) * (1.0 + 0.4 * day / span) * rng.gamma(25, 1 / 25, span)
    d = rng.choice(span, size=n, p=w / w.sum())
    work = np.isin(channel_idx, [CHANNELS.index("linkedin"), CHANNELS.index("email")])
    cum_s = np.cumsum(_HOURLY_SOCIAL) / sum(_HOURLY_SOCIAL)
    cum_w = np.cumsum(_HOURLY_WORK) / sum(_HOURLY_WORK)
    u = rng.random(n)
    hour = np.where(work, np.searchsorted(cum_w, u), np.searchsorted(cum_s, u))
    hour = np.minimum(hour, 23)
    midnight = start.floor("D")
    offset = (start - midnight).total_seconds()
    seconds = d * 86400 + hour * 3600 + rng.integers(0, 3600, n) - offset
    seconds = np.where(seconds < 0, seconds + 86400, seconds)

    # outages: most outage complaints pile up in a few incident windows
    n_incidents = max(1, span // 30)
    inc_start = rng.uniform(0, span - 1, n_incidents) * 86400
    inc_len = rng.uniform(3, 10, n_incidents) * 3600
    outage = scen_idx == [s.name for s in _SCENARIOS].index("outage")
    in_burst = outage & (rng.random(n) < 0.7)
    which = rng.integers(0, n_incidents, n)
    burst_t = inc_start[which] + np.minimum(rng.exponential(inc_len[which] / 3), inc_len[which])
    seconds = np.where(in_burst, burst_t, seconds)
    return np.floor(seconds).astype("timedelta64[s]")
