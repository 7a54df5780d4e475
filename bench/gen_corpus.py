#!/usr/bin/python3
"""
A deterministic synthetic mail corpus for the store benchmarks.

    /usr/bin/python3 bench/gen_corpus.py OUT_DIR COUNT [--seed N] [--jobs J]

Writes COUNT messages as OUT_DIR/cur/NNNNNNN.corpus:2, (a Maildir, so that
`doveadm import` can read it as it is; new/ and tmp/ are empty) with CRLF
line endings, as they arrive over SMTP/LMTP, and OUT_DIR/corpus.json with
the parameters, the marker word and the exact number of messages that hold
it. Message i depends only on (seed, i) and on whether it carries the
marker (a seeded choice of 1% of COUNT), so a run is reproducible.

What the messages look like (sizes include the header):
  - headers as a receiving MX sees them: 2-5 Received lines with unique
    queue ids, Return-Path, Delivered-To, Authentication-Results, a
    DKIM-Signature (bh= and b= are unique base64), Message-ID, sometimes
    In-Reply-To/References, X-Mailer, and List-Id/List-Unsubscribe/List-Post
    for mailing-list and newsletter mail; some From names and Subjects are
    RFC 2047 encoded-words (UTF-8, B or Q);
  - ~52% text/plain (7bit, or quoted-printable UTF-8), ~33% multipart/
    alternative text+HTML (HTML with unique tracking links), ~12%
    multipart/mixed with a small attachment (3-30 KB of binary .pdf, .png,
    .docx... or a text/calendar invitation), ~3% multipart/mixed with a
    large base64 attachment (50-500 KB); binary attachments are random
    bytes, i.e. as incompressible as a real PDF/JPEG/ZIP;
  - text from a built-in vocabulary (250 common English words plus 12,000
    pseudo-words made of syllables, drawn with Zipf-like weights), with
    numbers, names, URLs;
  - median size ~4 KB.

The marker word "xylophonist" is placed in the body text of exactly
round(COUNT/100) messages (1%), chosen by the seed. No vocabulary word
contains it, and the generator checks that no other message contains it
anywhere (raw bytes, case-insensitive), so SEARCH BODY must return exactly
that many hits.
"""

import argparse
import base64
import json
import os
import quopri
import random
import sys
import time

MARKER = "xylophonist"

COMMON = """the of and to a in is it you that he was for on are with as I his they be
at one have this from or had by not word but what some we can out other were all there
when up use your how said an each she which do their time if will way about many then them
write would like so these her long make thing see him two has look more day could go come did
number sound no most people my over know water than call first who may down side been now find
any new work part take get place made live where after back little only round man year came
show every good me give our under name very through just form sentence great think say help low
line differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big high
such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found answer
school grow study still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left late run while press
close night real life few north open seem together next white children begin got walk example
ease paper group always music those both mark often letter until mile river car feet care second
book carry took science eat room friend began idea fish mountain stop once base hear horse cut
sure watch color face wood main enough plain girl usual young ready above ever red list though
feel talk bird soon body dog family direct pose leave song measure door product black short
numeral class wind question happen complete ship area half rock order fire south problem piece
told knew pass since top whole king space heard best hour better true during hundred five
remember step early hold west ground interest reach fast verb sing listen six table travel less
morning ten simple several vowel toward war lay against pattern slow center love person money
serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly
fall lead cry dark machine note wait plan figure star box noun field rest correct able pound
done beauty drive stood contain front teach week final gave green quick develop ocean warm free
minute strong special mind behind clear tail produce fact street inch multiply nothing course
stay wheel full force blue object decide surface deep moon island foot system busy test record
boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate
miss brought heat snow tire bring yes distant fill east paint language among meeting invoice
project deadline budget report schedule review release server account password update team""".split()

ONSETS = ["b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l",
          "m", "n", "p", "pl", "pr", "qu", "r", "s", "sh", "sl", "st", "t", "th", "tr", "v",
          "w", "z", ""]
NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "ie", "au"]
CODAS = ["", "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rt", "ng", "ck", "sh"]

FIRST = ["Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Zoë", "José", "Amélie", "Björn", "Søren", "Łukasz", "Chloé", "Renée", "Jürgen",
         "Mei", "Hiroshi", "Priya", "Arjun", "Fatima", "Omar", "Ingrid", "Mateo"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Martínez", "Müller", "Schmidt", "Dubois", "Rossi", "Nowak", "Kowalski", "Tanaka",
        "Nguyen", "Kim", "Novák", "Andersson", "O'Brien", "Costa", "Silva", "Ivanov", "Weiß"]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com", "corp.example",
           "lists.example.org", "news.example.net", "shop.example", "bank.example",
           "university.example.edu", "startup.example.io", "example.co.uk"]
LISTS = ["dev", "announce", "users", "security", "jobs", "photography", "cycling",
         "book-club", "infra", "release-team"]
MAILERS = ["Apple Mail (2.3731)", "Microsoft Outlook 16.0", "Mozilla Thunderbird 115.6.0",
           "Roundcube Webmail/1.6.5", "K-9 Mail for Android", "Mutt/2.2.9"]
TLDS = ["com", "net", "org", "io"]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEX = "0123456789abcdef"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def build_vocabulary(seed):
    rng = random.Random("vocabulary-%d" % seed)
    words = list(dict.fromkeys(w.lower() for w in COMMON))
    seen = set(words)
    while len(words) < 12250:
        w = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)
                    for _ in range(rng.choice((1, 2, 2, 2, 2, 3, 3))))
        if len(w) < 3 or w in seen or MARKER[:6] in w or "xyl" in w:
            continue
        seen.add(w)
        words.append(w)
    # Zipf-like weights: common words first, the pseudo-word tail shuffled.
    head, tail = words[:250], words[250:]
    rng.shuffle(tail)
    words = head + tail
    cum, total = [], 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 2.7) ** 1.07
        cum.append(total)
    assert not any(MARKER in w for w in words)
    return words, cum


def token(rng, alphabet, n):
    return "".join(rng.choices(alphabet, k=n))


def rfc2822_date(t):
    offset = [0, 60, 120, -300, -480, 330, 540][int(t) % 7]
    lt = time.gmtime(t + offset * 60)
    sign = "+" if offset >= 0 else "-"
    return "%s, %d %s %d %02d:%02d:%02d %s%02d%02d" % (
        WEEKDAYS[lt.tm_wday], lt.tm_mday, MONTHS[lt.tm_mon - 1], lt.tm_year, lt.tm_hour,
        lt.tm_min, lt.tm_sec, sign, abs(offset) // 60, abs(offset) % 60)


def encoded_word(rng, text):
    raw = text.encode("utf-8")
    if rng.random() < 0.5:
        return "=?UTF-8?B?%s?=" % base64.b64encode(raw).decode()
    q = "".join(chr(b) if (48 <= b < 58 or 65 <= b < 91 or 97 <= b < 123) else
                "_" if b == 32 else "=%02X" % b for b in raw)
    return "=?UTF-8?Q?%s?=" % q


def needs_encoding(s):
    return any(ord(c) > 127 for c in s)


def person(rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = "%s.%s" % (first, last)
    local = "".join(c for c in local.encode("ascii", "ignore").decode().lower()
                    if c.isalnum() or c == ".") or "user"
    addr = "%s@%s" % (local, rng.choice(DOMAINS))
    name = "%s %s" % (first, last)
    if needs_encoding(name):
        shown = encoded_word(rng, name)
    elif "'" in name:
        shown = '"%s"' % name
    else:
        shown = name
    return name, addr, "%s <%s>" % (shown, addr)


class Writer:
    def __init__(self, seed):
        self.seed = seed
        self.words, self.cum = build_vocabulary(seed)

    def sentence(self, rng, n):
        ws = rng.choices(self.words, cum_weights=self.cum, k=n)
        r = rng.random()
        if r < 0.08:
            ws[rng.randrange(n)] = str(rng.randrange(1, 100000))
        elif r < 0.11:
            ws[rng.randrange(n)] = "https://www.%s.%s/%s" % (
                rng.choice(self.words), rng.choice(TLDS), rng.choice(self.words))
        elif r < 0.14:
            ws[rng.randrange(n)] = rng.choice(FIRST)
        ws[0] = ws[0].capitalize()
        return " ".join(ws) + rng.choice(".....?!:")

    def paragraphs(self, rng, target, marker):
        """Plain text of about target characters: lines wrapped at 72."""
        paras, size = [], 0
        while size < target:
            sents = [self.sentence(rng, rng.randint(4, 18)) for _ in range(rng.randint(1, 6))]
            p = " ".join(sents)
            paras.append(p)
            size += len(p) + 2
        if marker:
            i = rng.randrange(len(paras))
            ws = paras[i].split(" ")
            ws.insert(rng.randrange(1, len(ws) + 1), MARKER)
            paras[i] = " ".join(ws)
        out = []
        for p in paras:
            line, lines = "", []
            for w in p.split(" "):
                if line and len(line) + 1 + len(w) > 72:
                    lines.append(line)
                    line = w
                else:
                    line = line + " " + w if line else w
            lines.append(line)
            out.append("\n".join(lines))
        return "\n\n".join(out)

    def html(self, rng, text, list_domain):
        paras = text.split("\n\n")
        body = []
        for p in paras:
            body.append('<p style="margin:0 0 12px 0;font-family:Arial,sans-serif">%s</p>'
                        % p.replace("\n", " "))
            if rng.random() < 0.3:
                body.append('<p><a href="https://click.%s/ls/click?upn=%s">%s</a></p>'
                            % (list_domain, token(rng, ALNUM, 40),
                               self.sentence(rng, 3).rstrip(".?!:")))
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
                "</head>\n<body>\n<table width=\"100%%\" cellpadding=\"0\" cellspacing=\"0\">"
                "<tr><td>\n%s\n</td></tr></table>\n<img src=\"https://t.%s/o/%s.gif\" "
                "width=\"1\" height=\"1\" alt=\"\">\n</body></html>"
                % (rng.choice(self.words), "\n".join(body), list_domain,
                   token(rng, ALNUM, 32)))

    def message(self, i, marker):
        rng = random.Random(self.seed * 1000003 + i)
        t = 1672531200 + i * 97 + rng.randrange(90)
        from_name, from_addr, from_hdr = person(rng)
        _, to_addr, to_hdr = person(rng)
        is_list = rng.random() < 0.4
        list_name = rng.choice(LISTS)
        list_domain = rng.choice(DOMAINS)
        sender_domain = list_domain if is_list else from_addr.split("@")[1]

        # Body size: log-normal, median ~0.8 KB of text (plus ~2.2 KB header).
        text_size = int(min(60000, max(80, rng.lognormvariate(6.7, 0.9))))
        kind = rng.random()
        text = self.paragraphs(rng, text_size, marker)
        if rng.random() < 0.3:
            text += "\n\n-- \n%s\n%s" % (from_name, self.sentence(rng, 6))
        if is_list:
            text += ("\n\n_______________________________________________\n%s mailing list\n"
                     "%s@%s\nhttps://%s/mailman/listinfo/%s" % (
                         list_name, list_name, list_domain, list_domain, list_name))

        subject = self.sentence(rng, rng.randint(2, 9)).rstrip(".?!:")
        if rng.random() < 0.15:
            subject = "Re: " + subject
        if is_list:
            subject = "[%s] %s" % (list_name, subject)
        if rng.random() < 0.1:
            subject += " " + rng.choice(["✓", "café", "naïve", "Grüße", "日本", "€"])
        subj_hdr = encoded_word(rng, subject) if needs_encoding(subject) else subject

        h = []
        h.append("Return-Path: <%s>" % (("%s-bounces+%s@%s" % (
            list_name, to_addr.replace("@", "="), list_domain)) if is_list else from_addr))
        h.append("Delivered-To: %s" % to_addr)
        hops = rng.randint(2, 5)
        ht = t + hops * 2
        for hop in range(hops):
            ip = "%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256),
                                  rng.randrange(256), rng.randrange(1, 255))
            if hop == 0:
                h.append("Received: from mx%d.%s (mx%d.%s [%s])\r\n\tby mail.%s (Postfix) "
                         "with ESMTPS id %s\r\n\tfor <%s>; %s"
                         % (hop + 1, sender_domain, hop + 1, sender_domain, ip,
                            to_addr.split("@")[1], token(rng, ALNUM, 12), to_addr,
                            rfc2822_date(ht)))
            else:
                h.append("Received: from smtp%d.%s (localhost [127.0.0.1])\r\n\tby "
                         "relay%d.%s with ESMTP id %s;\r\n\t%s"
                         % (hop, sender_domain, hop, sender_domain,
                            token(rng, HEX, 16), rfc2822_date(ht)))
            ht -= rng.randint(1, 3)
        h.append("Authentication-Results: mail.%s;\r\n\tdkim=pass (2048-bit key) "
                 "header.d=%s header.i=@%s header.b=%s;\r\n\tspf=pass smtp.mailfrom=%s;"
                 "\r\n\tdmarc=pass (p=none dis=none) header.from=%s"
                 % (to_addr.split("@")[1], sender_domain, sender_domain,
                    token(rng, ALNUM, 8), sender_domain, from_addr.split("@")[1]))
        sig = token(rng, B64, 344)
        h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\r\n\ts=%s; "
                 "t=%d; x=%d; h=from:to:subject:date:message-id:mime-version:\r\n\t"
                 "content-type:list-id:list-unsubscribe; bh=%s=;\r\n\tb=%s\r\n\t %s\r\n\t %s"
                 "\r\n\t %s==" % (sender_domain, rng.choice(["s1", "google", "selector2",
                                                             "20230601", "mx"]),
                                  t, t + 604800, token(rng, B64, 43), sig[:68], sig[68:146],
                                  sig[146:224], sig[224:302]))
        h.append("From: %s" % from_hdr)
        h.append("To: %s" % to_hdr)
        if rng.random() < 0.25:
            ccs = [person(rng)[2] for _ in range(rng.randint(1, 4))]
            h.append("Cc: %s" % ",\r\n\t".join(ccs))
        h.append("Subject: %s" % subj_hdr)
        h.append("Date: %s" % rfc2822_date(t))
        msgid = "<%s.%s@%s>" % (token(rng, HEX, 16), token(rng, ALNUM, 10), sender_domain)
        h.append("Message-ID: %s" % msgid)
        if subject.startswith("Re:") or "Re: " in subject:
            refs = ["<%s@%s>" % (token(rng, ALNUM, 20), rng.choice(DOMAINS))
                    for _ in range(rng.randint(1, 4))]
            h.append("In-Reply-To: %s" % refs[-1])
            h.append("References: %s" % "\r\n\t".join(refs))
        if rng.random() < 0.5:
            h.append("X-Mailer: %s" % rng.choice(MAILERS))
        if is_list:
            h.append("List-Id: %s discussion <%s.%s>" % (list_name.capitalize(), list_name,
                                                        list_domain))
            h.append("List-Unsubscribe: <https://%s/unsubscribe/%s>,\r\n\t<mailto:%s-leave@%s"
                     "?subject=unsubscribe>" % (list_domain, token(rng, ALNUM, 24),
                                                list_name, list_domain))
            h.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
            h.append("List-Post: <mailto:%s@%s>" % (list_name, list_domain))
            h.append("List-Archive: <https://%s/archives/%s>" % (list_domain, list_name))
            h.append("Precedence: list")
        h.append("MIME-Version: 1.0")

        def text_part(s):
            if any(ord(c) > 127 for c in s) or rng.random() < 0.3:
                qp = quopri.encodestring(s.encode("utf-8")).decode("ascii")
                return ("Content-Type: text/plain; charset=\"UTF-8\"\r\n"
                        "Content-Transfer-Encoding: quoted-printable", qp)
            return "Content-Type: text/plain; charset=\"us-ascii\"\r\n" \
                   "Content-Transfer-Encoding: 7bit", s

        def html_part(s):
            qp = quopri.encodestring(s.encode("utf-8")).decode("ascii")
            return "Content-Type: text/html; charset=\"UTF-8\"\r\n" \
                   "Content-Transfer-Encoding: quoted-printable", qp

        def boundary():
            return "----=_Part_%d_%s" % (rng.randrange(10**6), token(rng, ALNUM, 16))

        def multipart(subtype, parts):
            b = boundary()
            out = ["This is a multi-part message in MIME format.", ""]
            for ph, pb in parts:
                out.append("--" + b)
                out.append(ph)
                out.append("")
                out.append(pb)
            out.append("--%s--" % b)
            out.append("")
            return "Content-Type: multipart/%s;\r\n\tboundary=\"%s\"" % (subtype, b), \
                "\n".join(out)

        def invitation():
            # A calendar invitation is text: base64 of a real VCALENDAR.
            start = time.gmtime(t + rng.randrange(1, 60) * 86400)
            stamp = time.strftime("%Y%m%dT%H0000Z", start)
            desc = self.sentence(rng, rng.randint(10, 60)).replace(",", "\\,")
            ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Example Corp//Calendar 1.0//EN\n"
                   "METHOD:REQUEST\nBEGIN:VEVENT\nUID:%s@%s\nDTSTAMP:%s\nDTSTART:%s\n"
                   "DURATION:PT1H\nSUMMARY:%s\nDESCRIPTION:%s\nORGANIZER;CN=%s:mailto:%s\n"
                   "LOCATION:Room %d\nEND:VEVENT\nEND:VCALENDAR\n"
                   % (token(rng, HEX, 32), sender_domain, stamp, stamp, subject, desc,
                      from_name, from_addr, rng.randrange(100, 999)))
            data = base64.encodebytes(ics.replace("\n", "\r\n").encode("utf-8"))
            return ("Content-Type: text/calendar; charset=\"UTF-8\"; method=REQUEST; "
                    "name=\"invite.ics\"\r\nContent-Disposition: attachment; "
                    "filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64",
                    data.decode("ascii").rstrip("\n"))

        def attachment(size):
            # Binary: random bytes, as incompressible as real PDF/JPEG/ZIP.
            if size < 30000 and rng.random() < 0.15:
                return invitation()
            ctype, ext = rng.choice([("application/pdf", "pdf"), ("image/jpeg", "jpg"),
                                     ("image/png", "png"), ("application/zip", "zip"),
                                     ("application/vnd.openxmlformats-officedocument."
                                      "wordprocessingml.document", "docx")])
            data = base64.encodebytes(rng.randbytes(size)).decode("ascii").rstrip("\n")
            name = "%s-%s.%s" % (rng.choice(self.words), rng.randrange(1000), ext)
            return ("Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; "
                    "filename=\"%s\"\r\nContent-Transfer-Encoding: base64" % (ctype, name, name),
                    data)

        if kind < 0.52:
            ph, body = text_part(text)
        elif kind < 0.85:
            ph, body = multipart("alternative", [text_part(text),
                                                 html_part(self.html(rng, text, list_domain))])
        else:
            big = kind >= 0.97
            size = int(50000 * 10 ** rng.random()) if big else rng.randint(3000, 30000)
            alt = multipart("alternative", [text_part(text),
                                            html_part(self.html(rng, text, list_domain))])
            parts = [alt if rng.random() < 0.6 else text_part(text), attachment(size)]
            if rng.random() < 0.15:
                parts.append(attachment(rng.randint(2000, 20000)))
            ph, body = multipart("mixed", parts)
        h.append(ph)
        msg = "\n".join(h) + "\n\n" + body
        if not msg.endswith("\n"):
            msg += "\n"
        # CRLF everywhere, as on the wire (folded header lines already have it).
        data = msg.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        # Exactly the chosen messages contain the marker (in the body text;
        # quoted-printable may fold it), no other message anywhere.
        if (MARKER in text) != marker or (not marker and MARKER.encode() in data.lower()):
            raise RuntimeError("message %d: marker %s unexpectedly" % (
                i, "missing" if marker else "present"))
        return data


def marked_set(seed, count):
    rng = random.Random("marker-%d-%d" % (seed, count))
    return set(rng.sample(range(count), round(count / 100)))


def generate(out, first, count, total, seed):
    w = Writer(seed)
    marked = marked_set(seed, total)
    cur = os.path.join(out, "cur")
    size = 0
    for i in range(first, first + count):
        data = w.message(i, i in marked)
        with open(os.path.join(cur, "%07d.corpus:2," % i), "wb") as f:
            f.write(data)
        size += len(data)
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if args.count < 1:
        ap.error("count must be >= 1")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(args.out_dir, sub), exist_ok=True)
    t0 = time.monotonic()
    jobs = max(1, min(args.jobs, args.count // 1000 or 1))
    chunk = (args.count + jobs - 1) // jobs
    pids = []
    for j in range(jobs):
        first, n = j * chunk, min(chunk, args.count - j * chunk)
        if n <= 0:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                generate(args.out_dir, first, n, args.count, args.seed)
                os._exit(0)
            except BaseException as e:  # noqa: BLE001 - report and fail the child
                print("gen_corpus: %s" % e, file=sys.stderr)
                os._exit(1)
        pids.append(pid)
    failed = False
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed |= status != 0
    if failed:
        return 1
    sizes = sorted(os.path.getsize(os.path.join(args.out_dir, "cur", n))
                   for n in os.listdir(os.path.join(args.out_dir, "cur")))
    meta = {
        "count": args.count, "seed": args.seed, "marker": MARKER,
        "marked": len(marked_set(args.seed, args.count)),
        "bytes": sum(sizes), "median": sizes[len(sizes) // 2],
        "p90": sizes[int(len(sizes) * 0.9)], "max": sizes[-1],
        "over_50k": sum(1 for s in sizes if s > 50000),
    }
    with open(os.path.join(args.out_dir, "corpus.json"), "w") as f:
        json.dump(meta, f)
    print("gen_corpus: %d messages, %.1f MB, median %d bytes, %d over 50 KB, marker %r in %d, "
          "%.1fs" % (args.count, meta["bytes"] / 1e6, meta["median"], meta["over_50k"],
                     MARKER, meta["marked"], time.monotonic() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
