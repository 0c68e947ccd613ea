"""Turn the product photos of the npm package @vendure/create (MIT) into a SnapShop catalog.

Usage: make_demo_catalog.py PACKAGE_DIR OUT_DIR
PACKAGE_DIR is the unpacked `npm pack @vendure/create@2.3.4` (it has assets/products.csv
and assets/images/); OUT_DIR receives catalog.csv and images/ in the import format.
"""

from __future__ import annotations

import csv
import re
import shutil
import sys
from pathlib import Path

FIELDS = [
    "skuId",
    "skuName",
    "skuPrice",
    "wareLabel",
    "cid1Name",
    "cid2Name",
    "cid3Name",
    "imageUrl",
    "detailUrl",
    "detailAppUrl",
    "description",
]


def facets(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in text.split("|"):
        if ":" in part:
            key, value = part.split(":", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def main(package: Path, out: Path) -> None:
    assets = package / "assets"
    with (assets / "products.csv").open(newline="", encoding="utf-8") as handle:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]
    (out / "images").mkdir(parents=True, exist_ok=True)
    written = 0
    with (out / "catalog.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for row in rows:
            if not row.get("name"):
                continue  # a further variant of the product above
            sku = re.sub(r"[^a-z0-9-]+", "-", row["slug"].lower()).strip("-")
            tags = facets(row["facets"])
            categories = tags.get("category", [])
            third = (tags.get("brand") or tags.get("plant type") or [row["name"]])[0]
            pictures = []
            for name in row["assets"].split("|"):
                source = assets / "images" / name.strip()
                if source.is_file():
                    shutil.copyfile(source, out / "images" / source.name)
                    pictures.append(f"images/{source.name}")
            writer.writerow(
                {
                    "skuId": sku,
                    "skuName": row["name"],
                    "skuPrice": row["price"],
                    # The demo shop sells branded goods itself and lists the rest from partners.
                    "wareLabel": "自营" if "brand" in tags else "非自营",
                    "cid1Name": categories[0] if categories else "",
                    "cid2Name": categories[1] if len(categories) > 1 else "",
                    "cid3Name": third,
                    "imageUrl": "|".join(pictures),
                    "detailUrl": f"/p/{sku}/",
                    "detailAppUrl": f"/p/{sku}/?view=app",
                    "description": row["description"],
                }
            )
            written += 1
    print(f"wrote {out / 'catalog.csv'}: {written} products")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
