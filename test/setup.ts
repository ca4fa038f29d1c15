// Tests print Temporal's warnings and errors only; a failing test still shows its worker's problems.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Installed already in this process.
}
