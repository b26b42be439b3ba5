// make-fixtures.mjs - writes the mock's corpora and vocabulary (web/mock/fixtures/).
//
// The texts are made up from templates with a fixed seed, so running this again gives the same
// files. Run it only to change the fixtures:  node mock/make-fixtures.mjs
// Then refresh the API examples:              node mock/make-examples.mjs

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

let state = 12345;
const rnd = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return (state >>> 8) / 16777216;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const fill = (tpl, slots) => tpl.replace(/\{(\w+)\}/g, (_, k) => pick(slots[k]));

const qa = {
  tpl: [
    'Where would you put {thing} that you want to keep {state}? {place}.',
    'What do people usually do when they feel {feeling}? They {action}.',
    'If you want to {goal}, what should you do first? {first}.',
    'Where is a {animal} most likely to be found? In the {habitat}.',
    'What is the main reason people {activity}? To {reason}.',
    'Why would someone bring {thing} to the {event}? Because they want to {reason}.',
    'What happens to {material} when you leave it in the sun? It {change}.',
    'Who is likely to own a {tool}? A {job}.',
  ],
  thing: ['a book', 'the milk', 'a letter', 'some money', 'an umbrella', 'the keys', 'a sandwich', 'fresh bread', 'a camera'],
  state: ['cold', 'dry', 'safe', 'clean', 'hidden', 'fresh'],
  place: ['In the refrigerator', 'In a drawer', 'In the bank', 'Under the bed', 'On the shelf', 'In a safe', 'In the kitchen'],
  feeling: ['tired', 'hungry', 'lonely', 'happy', 'nervous', 'bored', 'cold'],
  action: ['go to sleep', 'eat something', 'call a friend', 'sing a song', 'take a walk', 'read a book', 'make tea'],
  goal: ['learn a language', 'build a house', 'bake a cake', 'run a marathon', 'write a novel', 'plant a garden'],
  first: ['Buy a dictionary', 'Draw a plan', 'Preheat the oven', 'Start training slowly', 'Make an outline', 'Prepare the soil'],
  animal: ['fox', 'whale', 'camel', 'penguin', 'squirrel', 'shark', 'owl', 'frog'],
  habitat: ['forest', 'ocean', 'desert', 'snow', 'park', 'sea', 'barn', 'pond'],
  activity: ['go to school', 'go to work', 'visit a doctor', 'play sports', 'read the news', 'save money'],
  reason: ['learn new things', 'earn money', 'stay healthy', 'have fun', 'stay informed', 'buy a house', 'share it with friends'],
  event: ['party', 'beach', 'meeting', 'wedding', 'picnic', 'game'],
  material: ['ice', 'chocolate', 'butter', 'paper', 'paint', 'snow'],
  change: ['melts', 'dries', 'fades', 'gets warm', 'turns soft', 'cracks'],
  tool: ['hammer', 'stethoscope', 'microscope', 'violin', 'paintbrush', 'telescope'],
  job: ['carpenter', 'doctor', 'scientist', 'musician', 'painter', 'astronomer'],
};

const news = {
  tpl: [
    'The {org} said on {day} that its {metric} rose {n} percent in the {quarter} quarter.',
    'Shares of {org} fell {n} percent after the company cut its forecast for the year.',
    '{person} told reporters that the {org} would not comment on the {topic}.',
    'The {org} agreed to buy {org2} for about {n} million dollars, the two companies said.',
    'Officials in {city} said the {topic} would be discussed at a meeting on {day}.',
    'The {org} reported a net loss of {n} million dollars, compared with a profit a year earlier.',
    '{person}, who joined the {org} in {year}, will take over as chief executive next month.',
    'Analysts had expected the {org} to report {metric} of {n} million dollars.',
  ],
  org: ['company', 'bank', 'government', 'central bank', 'airline', 'group', 'union', 'agency', 'retailer'],
  org2: ['its rival', 'a software maker', 'a small bank', 'an airline', 'a chip maker'],
  day: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'],
  metric: ['revenue', 'profit', 'sales', 'earnings', 'costs'],
  n: ['2', '3', '4', '5', '7', '10', '12', '15', '20', '25', '40', '150', '300'],
  quarter: ['first', 'second', 'third', 'fourth'],
  person: ['Smith', 'Johnson', 'Brown', 'Garcia', 'Miller', 'Davis', 'Wilson'],
  topic: ['report', 'deal', 'strike', 'plan', 'budget', 'election', 'investigation'],
  city: ['London', 'Paris', 'Tokyo', 'Chicago', 'Berlin', 'Sydney'],
  year: ['1998', '2001', '2003', '2005'],
};

const abstracts = {
  tpl: [
    'We propose a {adj} method for {task} that {verb} {obj}.\\nExperiments on {ds} show that it improves the {metric} by {n} points.',
    'In this paper, we study {task} with {obj}. Our analysis shows that {obj2} {verb2} the {metric}.',
    '{Title}\\nWe introduce a {adj} model for {task}. It {verb} {obj} and outperforms strong baselines on {ds}.',
    'Recent work on {task} relies on {obj}. We show that a {adj} alternative {verb2} the {metric} with fewer parameters.',
    'We present a {adj} analysis of {obj} for {task}, and release code and data.',
  ],
  adj: ['simple', 'novel', 'scalable', 'fast', 'robust', 'neural', 'probabilistic', 'sparse'],
  task: ['machine translation', 'language modeling', 'question answering', 'text classification', 'summarization', 'parsing'],
  verb: ['combines', 'learns', 'aligns', 'compresses', 'estimates', 'transfers'],
  verb2: ['improves', 'reduces', 'explains', 'predicts', 'increases'],
  obj: ['attention weights', 'word embeddings', 'latent variables', 'pretrained transformers', 'graph representations', 'contrastive objectives'],
  obj2: ['the attention', 'the tokenizer', 'the training data', 'the learning rate', 'model size'],
  ds: ['GLUE', 'SQuAD', 'WMT', 'the Penn Treebank', 'three benchmarks'],
  metric: ['accuracy', 'perplexity', 'BLEU', 'F1 score', 'robustness'],
  n: ['1.2', '2.5', '3', '4.1', '0.8', '6'],
  Title: ['Attention Is Enough', 'Sparse Transformers', 'Learning to Align', 'Neural Parsing Revisited'],
};

const reviews = {
  tpl: [
    'the {item} was {adj} and the {item2} was {adj2}. would {rec} recommend.',
    '{adv} {adj} {item}, but the {item2} took forever to arrive.',
    'i bought this {item} for my {person} and {pron} {feel} it.',
    'not {adj} at all. the {item} broke after {n} days.',
    'five stars! the {item} is {adj} and {adj2}.',
  ],
  item: ['phone', 'case', 'cable', 'book', 'lamp', 'chair', 'coffee', 'jacket', 'charger', 'movie'],
  item2: ['battery', 'packaging', 'delivery', 'screen', 'price', 'sound', 'service'],
  adj: ['great', 'terrible', 'okay', 'cheap', 'beautiful', 'solid', 'disappointing', 'perfect'],
  adj2: ['fine', 'awful', 'excellent', 'average', 'fantastic', 'poor'],
  rec: ['definitely', 'not', 'probably', 'never'],
  adv: ['really', 'pretty', 'very', 'quite'],
  person: ['son', 'wife', 'friend', 'mother', 'husband'],
  pron: ['he', 'she', 'they'],
  feel: ['loves', 'hates', 'likes', 'returned'],
  n: ['two', 'three', 'ten', 'five'],
};

function corpus(spec, n) {
  const out = new Set();
  let guard = 0;
  while (out.size < n && guard++ < n * 50) {
    let s = fill(pick(spec.tpl), spec);
    s = s.charAt(0).toUpperCase() === s.charAt(0) || spec === reviews ? s : s;
    out.add(s.charAt(0).toUpperCase() + s.slice(1));
  }
  return [...out];
}

const sets = {
  'commonsense-mini.txt': corpus(qa, 180),
  'news-mini.txt': corpus(news, 220),
  'abstracts-mini.txt': corpus(abstracts, 120),
  'reviews-mini.txt': corpus(reviews, 150).map((s) => s.toLowerCase()),
};

mkdirSync(join(dir, 'corpora'), { recursive: true });
const freq = new Map();
for (const [file, texts] of Object.entries(sets)) {
  writeFileSync(join(dir, 'corpora', file), texts.join('\n') + '\n');
  for (const t of texts) for (const w of t.replace(/\\n/g, ' ').match(/\p{L}+|\p{N}+/gu) ?? []) freq.set(w, (freq.get(w) ?? 0) + 1);
}
const common = `the of and to a in is that for it as was with be by on not he i this are or his from at which but have an had they you were their one all we can her has there been if more when will would who so no she other its also into only than time first new some may most over could our these two such after between many those do should any where very because each through like same before how now up then much out well way back even just under people years make made work year long little good state part world day based include includes including complex recurrent convolutional networks network encoder decoder best performing connect connects connected mechanism dominant sequence transduction models model neural attention language text word words token tokens predict predicted prediction probability large small big great high low different number example examples using used use show shows shown result results data set sets train training trained test testing learn learned learning machine translation task tasks new novel propose proposed approach method methods paper study studies found find finds see seen look looked quick brown fox jumps jumped over lazy dog cat house home city country school university company government president said says say told asked think thought know knew want wanted need needed help helped life live lived family friend friends children child man woman men women today yesterday tomorrow week month morning night water food money book books story stories music film movie game games team player players season point points question questions answer answers reason reasons problem problems system systems group groups service services business market price prices cost costs report reports news public private national international local general political social economic history science research information development technology computer software internet online human natural simple simply clear clearly important possible available free full real true false better worse best worst right left open close closed start started end ended begin began change changed turn turned move moved play played run running read reading write writing written speak spoke hear heard feel felt seem seemed become became leave left keep kept hold held bring brought happen happened give gave take took come came go went get got put set let call called try tried ask`.split(' ');
const capitalized = common.slice(0, 120).map((w) => w.charAt(0).toUpperCase() + w.slice(1));
const words = [...new Set([...common, ...capitalized, ...[...freq.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w)])];
writeFileSync(join(dir, 'vocab.json'), JSON.stringify(words) + '\n');
const science = ['method', 'model', 'models', 'attention', 'transformers', 'embeddings', 'neural', 'parsing', 'translation', 'language', 'modeling', 'benchmarks', 'accuracy', 'perplexity', 'BLEU', 'parameters', 'baselines', 'latent', 'variables', 'graph', 'representations', 'contrastive', 'objectives', 'sparse', 'probabilistic', 'training', 'data', 'tokenizer', 'learning', 'rate', 'experiments', 'analysis', 'paper', 'propose', 'introduce', 'study', 'results', 'code', 'microscope', 'telescope', 'scientist'];
writeFileSync(join(dir, 'science-words.json'), JSON.stringify(science.map((w) => w.toLowerCase())) + '\n');
console.log(`wrote ${Object.values(sets).map((t) => t.length).join(' + ')} texts, ${words.length} words`);
