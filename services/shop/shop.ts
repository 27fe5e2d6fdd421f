// Events and timers, the nameko way: Shop dispatches `order_placed` from an RPC call,
// Warehouse handles it (one instance per event, however many run) and sweeps on a timer.
// `npm start` runs both, on RabbitMQ or on memory:// alike.

import { EventDispatcher, eventHandler, rpc, timer } from 'enoki';

export interface Order {
  id: number;
  item: string;
}

export class Shop {
  static name = 'shop';
  private static nextId = 1;
  dispatch = new EventDispatcher();

  /** Places an order and tells whoever listens; resolves once the broker has the event. */
  @rpc
  async place_order(item: string): Promise<Order> {
    const order = { id: Shop.nextId++, item };
    await this.dispatch('order_placed', order);
    return order;
  }
}

export class Warehouse {
  static name = 'warehouse';
  // Per process: a demo's bookkeeping, not a pattern for real state.
  private static readonly reserved: Order[] = [];
  private static sweeps = 0;

  @eventHandler('shop', 'order_placed')
  reserve(order: Order): void {
    Warehouse.reserved.push(order);
  }

  @timer(0.5, { eager: true })
  sweep(): void {
    Warehouse.sweeps++;
  }

  @rpc
  status(): { reserved: string[]; sweeps: number } {
    return { reserved: Warehouse.reserved.map((o) => o.item), sweeps: Warehouse.sweeps };
  }
}
