#!/usr/bin/env bash
# Regenerates the media under examples/ (images, audio, videos, frames).
# Texts, manifests and README.md are hand-written and are not touched.
#
# Needs: Debian ffmpeg (5.1), espeak-ng, node + sharp (from the repo's node_modules),
# and apt-get (to fetch python3-skimage, whose data folder holds the source photos).
# Set SKIMAGE_DATA=/path/to/skimage/data to skip the download.
# Output is not byte-identical across tool versions (x264, lame, espeak-ng, sharp), only equivalent.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
FF=(ffmpeg -hide_banner -loglevel error -y)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- source photos: python3-skimage's data folder (Debian package, see README.md for licences)
if [[ -z "${SKIMAGE_DATA:-}" ]]; then
  (cd "$WORK" && apt-get download python3-skimage >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download python3-skimage >/dev/null; })
  dpkg-deb -x "$WORK"/python3-skimage_*.deb "$WORK/skimage"
  SKIMAGE_DATA="$WORK/skimage/usr/lib/python3/dist-packages/skimage/data"
fi

mkdir -p "$HERE/images" "$HERE/audio" "$HERE/videos" "$HERE/frames/clip1"

# --- images (sharp): JPEG, JPEG with a space in the name, palette PNG with a unicode (NFC é) name, WebP
(cd "$ROOT" && SKIMAGE_DATA="$SKIMAGE_DATA" OUT="$HERE/images" node --input-type=module - <<'EOF'
import sharp from 'sharp';
const src = process.env.SKIMAGE_DATA, out = process.env.OUT;
await sharp(`${src}/astronaut.png`).jpeg({ quality: 85, mozjpeg: true }).toFile(`${out}/astronaut.jpg`);
await sharp(`${src}/coffee.png`).jpeg({ quality: 85, mozjpeg: true }).toFile(`${out}/coffee cup.jpg`);
await sharp(`${src}/chelsea.png`).png({ palette: true, quality: 90, compressionLevel: 9 })
  .toFile(`${out}/chat_caf\u00e9.png`);
await sharp(`${src}/rocket.jpg`).webp({ quality: 80 }).toFile(`${out}/rocket launch.webp`);
EOF
)

# --- speech (espeak-ng -> 16 kHz mono mp3)
espeak-ng -v en-us -s 150 -w "$WORK/en.wav" \
  "Hello! This is a short test recording for omni batch. Please describe what you hear in one sentence."
espeak-ng -v cmn -s 160 -w "$WORK/zh.wav" "你好，这是一段中文测试录音。今天天气很好。"
"${FF[@]}" -i "$WORK/en.wav" -ar 16000 -ac 1 -c:a libmp3lame -b:a 32k -map_metadata -1 "$HERE/audio/speech-en.mp3"
"${FF[@]}" -i "$WORK/zh.wav" -ar 16000 -ac 1 -c:a libmp3lame -b:a 32k -map_metadata -1 "$HERE/audio/speech-zh.mp3"

# --- video 1: Chelsea the cat, slow zoom/pan (zoompan) + espeak narration, 6 s, 320x240, h264 + aac
espeak-ng -v en-us -s 160 -w "$WORK/narration.wav" \
  "This is Chelsea the cat. The camera slowly zooms in on her face."
"${FF[@]}" -loop 1 -i "$SKIMAGE_DATA/chelsea.png" -i "$WORK/narration.wav" \
  -filter_complex "[0:v]crop=400:300:25:0,scale=1600:1200,zoompan=z='min(zoom+0.0025,1.4)':x='iw/2-(iw/zoom/2)+on*1.5':y='ih/2-(ih/zoom/2)':d=150:s=320x240:fps=25,format=yuv420p[v];[1:a]aresample=44100,apad[a]" \
  -map "[v]" -map "[a]" -t 6 -c:v libx264 -preset slow -crf 24 -c:a aac -b:a 48k -ac 1 \
  -movflags +faststart -map_metadata -1 "$HERE/videos/cat-zoom-narrated.mp4"

# --- video 2: ffmpeg testsrc2 with a quiet 440 Hz tone, 5 s, 320x240, h264 + aac
"${FF[@]}" -f lavfi -i "testsrc2=size=320x240:rate=25:duration=5" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=5" \
  -filter:a "volume=0.3" -c:v libx264 -preset slow -crf 30 -pix_fmt yuv420p \
  -c:a aac -b:a 48k -ac 1 -shortest -movflags +faststart -map_metadata -1 "$HERE/videos/testsrc-tone.mp4"

# --- frames: 6 JPEGs (one per second, 320 px wide) from video 1, for the frame-list input
rm -f "$HERE"/frames/clip1/*.jpg
"${FF[@]}" -i "$HERE/videos/cat-zoom-narrated.mp4" -vf "fps=1,scale=320:-2" -frames:v 6 -q:v 4 \
  "$HERE/frames/clip1/%03d.jpg"

echo "examples regenerated under $HERE"
