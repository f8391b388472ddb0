#!/usr/bin/env bash
# The same preprocessing omni-batch does on the corpus, typed by hand with the ffmpeg command line (one process
# per file, one after another), for the time ratio. Usage: bench/corpus-by-hand.sh FIXTURES CORPUS OUTDIR
set -euo pipefail
F="$1"; C="$2"; O="$3"; mkdir -p "$O"
FF=(ffmpeg -hide_banner -loglevel error -y)
for f in tiny-8x8.png narrow-5x400.png strip-3000x10.png wide-2100x10.png wide-1000x4.png; do
  "${FF[@]}" -i "$F/$f" -vf "pad=max(iw\,11):max(ih\,max(11\,iw/200)):(ow-iw)/2:(oh-ih)/2:white" "$O/$f.jpg"; done
"${FF[@]}" -i "$F/rotated-exif6.jpg" "$O/rot.jpg"            # ffmpeg autorotates by the display matrix
for f in cmyk.jpg deep-16bit.png image.tiff image.bmp; do "${FF[@]}" -i "$F/$f" -pix_fmt yuvj420p "$O/$f.jpg"; done
"${FF[@]}" -i "$F/animated.gif" -frames:v 1 "$O/gif.png"
"${FF[@]}" -i "$C/photo-12000x8000.jpg" -vf scale=1204:812 -q:v 3 "$O/big.jpg"
"${FF[@]}" -i "$C/noise-20mb.png" -vf scale=980:980 -q:v 3 "$O/noise.jpg"
for f in real-alarm.oga speech.ogg speech.flac speech.m4a; do "${FF[@]}" -i "$F/$f" -c:a libmp3lame -b:a 64k "$O/$f.mp3"; done
"${FF[@]}" -t 179.75 -i "$F/audio-200s.mp3" -ac 1 -c:a libmp3lame -b:a 32k "$O/a200.mp3"
"${FF[@]}" -t 179.75 -i "$C/audio-10min.mp3" -ac 1 -c:a libmp3lame -b:a 64k "$O/a600.mp3"
"${FF[@]}" -i "$F/clip.webm" -c:v libx264 -preset veryfast -crf 26 -c:a aac "$O/webm.mp4"
"${FF[@]}" -i "$F/long-45s.mp4" -t 39.4 -c copy -movflags +faststart "$O/long.mp4"
"${FF[@]}" -i "$F/short-1s.mp4" -vf fps=4,scale=392:280 -frames:v 4 "$O/short-%02d.jpg"
"${FF[@]}" -t 120 -i "$C/video-2min-1080p.mp4" -vf fps=80/120,scale=392:224 -frames:v 80 "$O/v2-%02d.jpg"
