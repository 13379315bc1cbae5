// Closing a database connection does not stop the statement it is running: MariaDB carries on
// (a long UPDATE would still commit) until it next writes to the closed socket. A key that
// stops being valid stops its statements too: KILL QUERY, as the grant's own account, which
// may always kill its own threads.
import mysql from 'mysql2/promise';
import type { Secret } from '../../domain/index.js';

export interface DatabaseAddress {
  readonly host: string;
  readonly port: number;
}

/** Resolves when the database has been asked; a thread that already finished is not an error. */
export const killQuery = async (database: DatabaseAddress, account: { readonly username: string; readonly password: Secret }, threadId: number): Promise<void> => {
  const connection = await mysql.createConnection({ ...database, user: account.username, password: account.password.reveal(), connectTimeout: 5000 });
  try {
    await connection.query('KILL QUERY ?', [threadId]).catch((e: unknown) => {
      // ER_NO_SUCH_THREAD: it ended on its own in the meantime.
      if ((e as { errno?: number }).errno !== 1094) throw e;
    });
  } finally {
    connection.destroy();
  }
};
