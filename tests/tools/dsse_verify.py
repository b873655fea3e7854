"""An independent check of a signed omni-launch result prefix on file://.

Usage: dsse_verify.py PUBLIC_KEY.pem PREFIX_DIR

Verifies the DSSE envelope (results.json.sig) with the `cryptography`
package, then that every subject of its in-toto statement is a file under
PREFIX_DIR with that SHA-256. Prints "verified" and exits 0, or says what
failed and exits 1.
"""

import base64
import hashlib
import json
import pathlib
import sys
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def main() -> int:
    key = load_pem_public_key(pathlib.Path(sys.argv[1]).read_bytes())
    prefix = pathlib.Path(sys.argv[2])
    envelope = json.loads((prefix / "results.json.sig").read_text())
    payload = base64.b64decode(envelope["payload"])
    message = pae(envelope["payloadType"], payload)
    for signature in envelope["signatures"]:
        try:
            key.verify(base64.b64decode(signature["sig"]), message)
            break
        except InvalidSignature:
            continue
    else:
        print("no signature verifies")
        return 1
    statement = json.loads(payload)
    if statement["_type"] != "https://in-toto.io/Statement/v1":
        print("not an in-toto statement")
        return 1
    names = set()
    for subject in statement["subject"]:
        path = pathlib.Path(urllib.parse.unquote(urllib.parse.urlparse(subject["name"]).path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != subject["digest"]["sha256"]:
            print(f"{path}: sha256 {digest}, signed {subject['digest']['sha256']}")
            return 1
        names.add(path.name)
    if "results.json" not in names:
        print("results.json is not a subject")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
