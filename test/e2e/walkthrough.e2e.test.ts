// The walk-through on the embedded store, a SQLite file in keyward's data folder.
import { walkthrough } from './walkthrough.js';

walkthrough('on SQLite');
