/**
 * An AAC AudioSpecificConfig (ISO 14496-3 1.6.2.1): the sample rate and channels it declares. Plain AAC only:
 * SBR and PS (HE-AAC v1/v2), which double the rate or the channels at decoding, and channel layouts carried in a
 * program config element go to ffprobe.
 */
import { sure } from './facts.js';

const RATES = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];
/** Channel configurations 1..7 as libavcodec counts their channels. */
const CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8];

export function aacConfig(asc: Buffer): { sampleRate: number; channels: number } {
  sure(asc.length >= 2, 'a short AudioSpecificConfig');
  let bits = 0;
  let have = 0;
  let pos = 0;
  const take = (n: number): number => {
    while (have < n) {
      sure(pos < asc.length, 'a short AudioSpecificConfig');
      bits = ((bits << 8) | asc.readUInt8(pos++)) >>> 0;
      have += 8;
    }
    have -= n;
    return (bits >>> have) & ((1 << n) - 1);
  };
  let objectType = take(5);
  if (objectType === 31) objectType = 32 + take(6);
  const rateIndex = take(4);
  const sampleRate = rateIndex === 15 ? take(24) : RATES[rateIndex];
  const config = take(4);
  sure(objectType !== 5 && objectType !== 29, 'HE-AAC (SBR or PS)');
  sure([1, 2, 3, 4, 6].includes(objectType), `AAC object type ${objectType}`);
  sure(sampleRate, 'an AAC sample rate index out of range');
  const channels = CHANNELS[config];
  sure(channels, `AAC channel configuration ${config}`);
  return { sampleRate, channels };
}
